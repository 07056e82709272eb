//! The hostile corpus of `cargo xtask fixtures`: files an attacker could upload or leave under
//! the media root, written to `crates/core/tests/fixtures/hostile/`, and the marker audio file
//! (`fixtures/marker/marker.mp3`) that the playlists among them point at.
//!
//! Tests copy the marker outside the media root (next to the root, and at
//! [`ABSOLUTE_MARKER`]) and check that its fingerprint never comes out of any hostile file.
//! Most files are built byte by byte here so that each one is exactly the case it names.

use std::path::Path;
use std::process::Command;

use crate::util;

/// Where the absolute-path playlists point; tests put a copy of the marker there.
pub const ABSOLUTE_MARKER: &str = "/tmp/recozik-hostile/marker.mp3";

/// Writes the marker and the hostile corpus into the fixtures folder `dir`, whose good fixtures
/// are already generated (some hostile files are built from them).
pub fn generate(dir: &Path) -> anyhow::Result<()> {
    let marker_dir = dir.join("marker");
    std::fs::create_dir_all(&marker_dir)?;
    // A rising tone unlike any good fixture: its fingerprint identifies it.
    util::run_status(
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=exprs='0.4*sin(2*PI*(300+40*t)*t)':s=44100:d=8",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
        ])
        .arg(marker_dir.join("marker.mp3")),
    )?;

    let hostile = dir.join("hostile");
    if hostile.exists() {
        std::fs::remove_dir_all(&hostile)?;
    }
    std::fs::create_dir_all(&hostile)?;
    let write = |name: &str, bytes: &[u8]| std::fs::write(hostile.join(name), bytes);
    indirections(&write)?;
    implausible_streams(&write)?;
    derived_from_good(dir, &hostile, &write)
}

type Writer<'a> = dyn Fn(&str, &[u8]) -> std::io::Result<()> + 'a;

/// Formats that name other files, outside the root or beside the upload, or open sockets.
fn indirections(write: &Writer<'_>) -> anyhow::Result<()> {
    // Indirection formats: each names another file, outside the root or beside the upload.
    write("hls_parent_dir.mp3", hls("../marker.mp3", true).as_bytes())?;
    write(
        "hls_absolute_path.m4a",
        hls(ABSOLUTE_MARKER, true).as_bytes(),
    )?;
    write(
        "hls_live_no_end.mp3",
        hls("../marker.mp3", false).as_bytes(),
    )?;
    write(
        "hls_file_url.flac",
        hls(&format!("file://{ABSOLUTE_MARKER}"), true).as_bytes(),
    )?;
    write(
        "ffconcat_sibling.wav",
        b"ffconcat version 1.0\nfile 'marker.mp3'\n",
    )?;
    write(
        "ffconcat_parent.ogg",
        b"ffconcat version 1.0\nfile '../marker.mp3'\n",
    )?;
    write("dash_manifest.mp3", dash(ABSOLUTE_MARKER).as_bytes())?;
    write(
        "rtp_session.sdp.mp3",
        b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=recozik\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 14\r\na=rtpmap:14 MPA/90000\r\n",
    )?;
    Ok(())
}

/// Stream parameters no real audio has.
fn implausible_streams(write: &Writer<'_>) -> anyhow::Result<()> {
    write(
        "wav_1hz_huge_block_align.wav",
        &wav(
            &WavFormat {
                channels: 1,
                sample_rate: 1,
                block_align: 65_535,
                bits: 16,
            },
            &[],
            &pseudo_random(2_048, 1),
            None,
        ),
    )?;
    write(
        "wav_65535_channels.wav",
        &wav(
            &WavFormat {
                channels: 65_535,
                sample_rate: 44_100,
                block_align: 65_534,
                bits: 8,
            },
            &[],
            &pseudo_random(4_096, 2),
            None,
        ),
    )?;
    write(
        "wav_4ghz_rate.wav",
        &wav(
            &WavFormat {
                channels: 1,
                sample_rate: u32::MAX,
                block_align: 2,
                bits: 16,
            },
            &[],
            &pseudo_random(8_192, 3),
            None,
        ),
    )?;
    write(
        "wav_zero_length_stream.wav",
        &wav(&WavFormat::pcm16(44_100), &[], &[], None),
    )?;
    Ok(())
}

/// Bad tags, sizes and headers around valid audio, an image, and mutated good files.
fn derived_from_good(dir: &Path, hostile: &Path, write: &Writer<'_>) -> anyhow::Result<()> {
    // Tags that are not UTF-8 around valid audio.
    let tone = sine_pcm16(11_025, 4.0);
    let mut info = Vec::new();
    info.extend_from_slice(b"INFO");
    info.extend(riff_chunk(*b"INAM", b"Titre \xe9t\xe9 \xff\xfe\x80 fin\0"));
    info.extend(riff_chunk(*b"IART", b"\xc3\x28 artiste \xa0\xa1\0"));
    write(
        "riff_info_non_utf8.wav",
        &wav(
            &WavFormat::pcm16(11_025),
            &riff_chunk(*b"LIST", &info),
            &tone,
            None,
        ),
    )?;
    let mp3 = std::fs::read(dir.join("mp3_vbr_22k_mono.mp3"))?;
    let mut tagged = id3v2_non_utf8();
    tagged.extend_from_slice(&mp3);
    write("id3v2_non_utf8.mp3", &tagged)?;

    // Durations and sizes that do not fit the data.
    write(
        "rf64_absurd_duration.wav",
        &rf64_absurd(&pseudo_random(4_000, 4)),
    )?;
    write(
        "wav_data_size_4gib.wav",
        &wav(
            &WavFormat::pcm16(8_000),
            &[],
            &sine_pcm16(8_000, 1.0),
            Some(0xFFFF_FFF0),
        ),
    )?;

    // Truncated headers of good files.
    let flac = std::fs::read(dir.join("flac_44k_stereo_tagged.flac"))?;
    write("truncated_header.flac", &flac[..42.min(flac.len())])?;
    let m4a = std::fs::read(dir.join("aac_44k_stereo_tagged.m4a"))?;
    write("truncated_header.m4a", &m4a[..256.min(m4a.len())])?;
    let ogg = std::fs::read(dir.join("opus_48k_stereo.opus"))?;
    write("truncated_header.opus", &ogg[..90.min(ogg.len())])?;

    // An image wearing an audio extension (image demuxers are not containers of audio).
    util::run_status(
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=32x24:rate=1:duration=1",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "png",
        ])
        .arg(hostile.join("png_image.mp3")),
    )?;

    // Seeded mutations of good files.
    for (index, name) in [
        "mp3_vbr_22k_mono.mp3",
        "opus_48k_stereo.opus",
        "aac_44k_stereo_tagged.m4a",
        "wav_s16_8k_mono.wav",
    ]
    .iter()
    .enumerate()
    {
        let original = std::fs::read(dir.join(name))?;
        let mutated = mutate(&original, 0xC0FF_EE00 + index as u64);
        write(&format!("mutated_{name}"), &mutated)?;
    }
    Ok(())
}

fn ffmpeg(args: &[&str]) -> Command {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .args([
            "-fflags",
            "+bitexact",
            "-flags",
            "+bitexact",
            "-map_metadata",
            "-1",
        ]);
    command
}

fn hls(segment: &str, ended: bool) -> String {
    let mut playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:8\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:8.0,\n{segment}\n"
    );
    if ended {
        playlist.push_str("#EXT-X-ENDLIST\n");
    }
    playlist
}

fn dash(segment: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT8S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
  <Period>
    <AdaptationSet mimeType="audio/mpeg">
      <Representation id="1" bandwidth="64000">
        <BaseURL>{segment}</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#
    )
}

struct WavFormat {
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    bits: u16,
}

impl WavFormat {
    fn pcm16(sample_rate: u32) -> Self {
        Self {
            channels: 1,
            sample_rate,
            block_align: 2,
            bits: 16,
        }
    }
}

fn riff_chunk(id: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut chunk = id.to_vec();
    chunk.extend_from_slice(&(body.len() as u32).to_le_bytes());
    chunk.extend_from_slice(body);
    if body.len() % 2 == 1 {
        chunk.push(0);
    }
    chunk
}

/// A RIFF WAVE file; `declared_data_size` overrides the data chunk's size field.
fn wav(
    format: &WavFormat,
    extra_chunks: &[u8],
    data: &[u8],
    declared_data_size: Option<u32>,
) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
    fmt.extend_from_slice(&format.channels.to_le_bytes());
    fmt.extend_from_slice(&format.sample_rate.to_le_bytes());
    let byte_rate = format
        .sample_rate
        .wrapping_mul(u32::from(format.block_align));
    fmt.extend_from_slice(&byte_rate.to_le_bytes());
    fmt.extend_from_slice(&format.block_align.to_le_bytes());
    fmt.extend_from_slice(&format.bits.to_le_bytes());
    let mut body = b"WAVE".to_vec();
    body.extend(riff_chunk(*b"fmt ", &fmt));
    body.extend_from_slice(extra_chunks);
    body.extend_from_slice(b"data");
    let size = declared_data_size.unwrap_or(data.len() as u32);
    body.extend_from_slice(&size.to_le_bytes());
    body.extend_from_slice(data);
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend(body);
    file
}

/// An RF64 file whose 64-bit sizes declare 2^62 samples of 8 kHz audio over a few bytes.
fn rf64_absurd(data: &[u8]) -> Vec<u8> {
    let absurd: u64 = 1 << 62;
    let mut ds64 = Vec::new();
    ds64.extend_from_slice(&absurd.to_le_bytes()); // RIFF size
    ds64.extend_from_slice(&absurd.to_le_bytes()); // data size
    ds64.extend_from_slice(&absurd.to_le_bytes()); // sample count
    ds64.extend_from_slice(&0u32.to_le_bytes()); // no table
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&8_000u32.to_le_bytes());
    fmt.extend_from_slice(&8_000u32.to_le_bytes());
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&8u16.to_le_bytes());
    let mut file = b"RF64".to_vec();
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(b"WAVE");
    file.extend(riff_chunk(*b"ds64", &ds64));
    file.extend(riff_chunk(*b"fmt ", &fmt));
    file.extend_from_slice(b"data");
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(data);
    file
}

/// An ID3v2.4 tag whose UTF-8 text frames hold invalid UTF-8.
fn id3v2_non_utf8() -> Vec<u8> {
    let frames = [
        (
            b"TIT2",
            b"\x03Chanson \xff\xfe invalide \xc3\x28\0".as_slice(),
        ),
        (b"TPE1", b"\x03\xe9\xe8 Artiste \x80\0".as_slice()),
        (b"TALB", b"\x03Album \xed\xa0\x80 (surrogate)\0".as_slice()),
    ];
    let mut body = Vec::new();
    for (id, content) in frames {
        body.extend_from_slice(id);
        body.extend_from_slice(&syncsafe(content.len() as u32));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(content);
    }
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe(body.len() as u32));
    tag.extend(body);
    tag
}

fn syncsafe(value: u32) -> [u8; 4] {
    [
        ((value >> 21) & 0x7F) as u8,
        ((value >> 14) & 0x7F) as u8,
        ((value >> 7) & 0x7F) as u8,
        (value & 0x7F) as u8,
    ]
}

/// Mono signed 16-bit little-endian samples of a two-tone signal.
fn sine_pcm16(sample_rate: u32, seconds: f64) -> Vec<u8> {
    let count = (f64::from(sample_rate) * seconds) as usize;
    let mut bytes = Vec::with_capacity(count * 2);
    for n in 0..count {
        let t = n as f64 / f64::from(sample_rate);
        let step = (t * 2.0).floor();
        let value = 0.3 * (2.0 * std::f64::consts::PI * (220.0 + 55.0 * step) * t).sin()
            + 0.2 * (2.0 * std::f64::consts::PI * 660.0 * t).sin();
        bytes.extend_from_slice(&((value * 32_767.0) as i16).to_le_bytes());
    }
    bytes
}

/// Deterministic bytes (xorshift), different per seed (seed 0 gives the "random bytes" fixture).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A copy of `original` with about one byte in 200 replaced, the first kilobyte included.
fn mutate(original: &[u8], seed: u64) -> Vec<u8> {
    let mut mutated = original.to_vec();
    let noise = pseudo_random(original.len() / 100 + 16, seed);
    for pair in noise.chunks_exact(4) {
        let position = usize::from(u16::from_le_bytes([pair[0], pair[1]]))
            * (original.len() / 65_536 + 1)
            % original.len().max(1);
        if let Some(byte) = mutated.get_mut(position) {
            *byte ^= pair[2] | 1;
        }
    }
    mutated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_sizes_are_consistent() {
        let file = wav(&WavFormat::pcm16(8_000), &[], &[1, 2, 3, 4], None);
        assert_eq!(&file[..4], b"RIFF");
        let riff_size = u32::from_le_bytes([file[4], file[5], file[6], file[7]]) as usize;
        assert_eq!(riff_size + 8, file.len());
    }

    #[test]
    fn syncsafe_integers_use_seven_bits_per_byte() {
        assert_eq!(syncsafe(0x7F), [0, 0, 0, 0x7F]);
        assert_eq!(syncsafe(0x80), [0, 0, 1, 0]);
    }

    #[test]
    fn mutation_changes_bytes_deterministically() {
        let original = vec![0u8; 10_000];
        let first = mutate(&original, 7);
        assert_ne!(first, original);
        assert_eq!(first, mutate(&original, 7));
    }
}
