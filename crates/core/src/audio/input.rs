//! Opening media files safely: an allowlist of real audio/video container demuxers, plain-file
//! access only, a deadline on every blocking FFmpeg call, and tag reading that never trusts the
//! bytes to be UTF-8.
//!
//! FFmpeg's default `avformat_open_input` picks whatever demuxer scores best on the file's
//! contents. Some demuxers are indirections: HLS and DASH playlists, `ffconcat` lists, SDP
//! sessions, image sequences. An upload named `x.mp3` holding a playlist would make us open and
//! fingerprint other files of the server, or wait forever on a live playlist. So every open here
//! names the allowed demuxers ([`ALLOWED_DEMUXERS`]) and the allowed protocol (`file`), and
//! installs an interrupt callback that aborts any FFmpeg I/O once the deadline has passed.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_void};
use std::io::Read;
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next::{Dictionary, DictionaryRef, ffi, format};

use super::AudioError;

/// The FFmpeg demuxers a media file may be opened with, by their short names.
///
/// Only containers that carry their own audio data are listed. Never add a demuxer that reads
/// other files or devices (`hls`, `dash`, `concat`, `image2`, `sdp`, `rtsp`, `lavfi`, `tee`, …):
/// the file's contents choose the demuxer, and an uploader controls the contents.
/// FFmpeg matches a multi-name demuxer (`mov,mp4,m4a,3gp,3g2,mj2`) by any one of its names.
pub const ALLOWED_DEMUXERS: &[&str] = &[
    "aac",      // ADTS AAC
    "ac3",      // Dolby Digital
    "aiff",     // AIFF / AIFF-C
    "amr",      // AMR-NB / AMR-WB
    "ape",      // Monkey's Audio
    "asf",      // WMA / WMV
    "au",       // Sun AU
    "avi",      // AVI (audio track of a video)
    "caf",      // Apple Core Audio Format
    "dsf",      // DSD stream file
    "dts",      // DTS
    "eac3",     // Dolby Digital Plus
    "flac",     // FLAC
    "flv",      // Flash video (audio track)
    "matroska", // Matroska / WebM (`matroska,webm`)
    "mov",      // MP4 / M4A / MOV / 3GP (`mov,mp4,m4a,3gp,3g2,mj2`)
    "mp3",      // MPEG audio layers 1-3
    "mpc",      // Musepack SV7
    "mpc8",     // Musepack SV8
    "mpeg",     // MPEG program stream
    "mpegts",   // MPEG transport stream
    "ogg",      // Ogg Vorbis / Opus / FLAC / Speex
    "shn",      // Shorten
    "tak",      // TAK
    "truehd",   // Dolby TrueHD
    "tta",      // True Audio
    "w64",      // Sony Wave64
    "wav",      // WAV / RF64 / BWF
    "wv",       // WavPack
];

/// How long reading a file's header may take when only probing it (no audio is decoded).
pub(crate) const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// Most bytes read to name a refused container in an error message.
const PROBE_BYTES: usize = 64 * 1024;

/// Wall-clock budget of one open-and-decode; FFmpeg's I/O asks it through the interrupt callback.
#[derive(Debug)]
pub(crate) struct Watchdog {
    started: Instant,
    deadline: Instant,
    budget: Duration,
    expired: AtomicBool,
}

impl Watchdog {
    fn new(budget: Duration) -> Self {
        let started = Instant::now();
        Self {
            started,
            // An absurd budget saturates instead of overflowing.
            deadline: started
                .checked_add(budget)
                .unwrap_or(started + Duration::from_hours(24 * 365)),
            budget,
            expired: AtomicBool::new(false),
        }
    }

    /// True once the deadline has passed (and stays true).
    pub(crate) fn expired(&self) -> bool {
        if self.expired.load(Ordering::Relaxed) {
            return true;
        }
        if Instant::now() >= self.deadline {
            self.expired.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub(crate) fn timed_out(&self, path: &Path) -> AudioError {
        AudioError::TimedOut {
            path: path.to_owned(),
            limit_seconds: self.budget.as_secs_f64(),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Called by FFmpeg before and during blocking I/O; non-zero aborts the operation.
unsafe extern "C" fn interrupt_requested(opaque: *mut c_void) -> c_int {
    if opaque.is_null() {
        return 0;
    }
    // SAFETY: `opaque` is the `Watchdog` boxed in the `GuardedInput` that owns the format context;
    // the box outlives the context (field order of `GuardedInput`), and `expired` cannot panic.
    let watchdog = unsafe { &*opaque.cast::<Watchdog>() };
    c_int::from(watchdog.expired())
}

/// An opened input whose I/O is bounded by a [`Watchdog`].
pub(crate) struct GuardedInput {
    // Declared first so that it is dropped first: closing the format context may still call the
    // interrupt callback, which reads the watchdog below.
    input: format::context::Input,
    watchdog: Box<Watchdog>,
}

impl GuardedInput {
    pub(crate) fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }
}

impl std::ops::Deref for GuardedInput {
    type Target = format::context::Input;
    fn deref(&self) -> &Self::Target {
        &self.input
    }
}

impl std::ops::DerefMut for GuardedInput {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.input
    }
}

/// Opens `path` with the allowed demuxers and the `file` protocol only, within `budget`.
pub(crate) fn open_input(path: &Path, budget: Duration) -> Result<GuardedInput, AudioError> {
    super::init_ffmpeg();
    let watchdog = Box::new(Watchdog::new(budget));
    // An explicit `file:` URL: a server file named `concat:…` or `http:…` stays a plain file.
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    let url = CString::new(url).map_err(|_| AudioError::NotFound {
        path: path.to_owned(),
    })?;
    let mut options = Dictionary::new();
    options.set("format_whitelist", &ALLOWED_DEMUXERS.join(","));
    options.set("protocol_whitelist", "file");

    // SAFETY: the context is allocated here and either handed to `Input::wrap`, which closes it
    // once, or closed here on failure (avformat_open_input frees it itself when it fails). The
    // interrupt callback's opaque pointer is the boxed watchdog, which `GuardedInput` keeps alive
    // for as long as the context.
    unsafe {
        let mut context = ffi::avformat_alloc_context();
        if context.is_null() {
            return Err(AudioError::Conversion {
                path: path.to_owned(),
                detail: "cannot allocate a demuxer context".to_owned(),
            });
        }
        (*context).interrupt_callback = ffi::AVIOInterruptCB {
            callback: Some(interrupt_requested),
            opaque: ptr::from_ref::<Watchdog>(&watchdog).cast_mut().cast(),
        };
        let mut raw_options = options.disown();
        let opened = ffi::avformat_open_input(
            &raw mut context,
            url.as_ptr(),
            ptr::null(),
            &raw mut raw_options,
        );
        drop(Dictionary::own(raw_options));
        if opened < 0 {
            return Err(open_failure(path, &watchdog));
        }
        if ffi::avformat_find_stream_info(context, ptr::null_mut()) < 0 {
            ffi::avformat_close_input(&raw mut context);
            if watchdog.expired() {
                return Err(watchdog.timed_out(path));
            }
            return Err(AudioError::NotAudio {
                path: path.to_owned(),
            });
        }
        Ok(GuardedInput {
            input: format::context::Input::wrap(context),
            watchdog,
        })
    }
}

/// Why FFmpeg could not open a readable file: out of time, a refused container, or no known format.
fn open_failure(path: &Path, watchdog: &Watchdog) -> AudioError {
    if watchdog.expired() {
        return watchdog.timed_out(path);
    }
    match probed_demuxer(path) {
        Some(format) if !is_allowed_demuxer(&format) => {
            tracing::debug!(path = %path.display(), %format, "refused container");
            AudioError::ContainerNotAllowed {
                path: path.to_owned(),
                format,
            }
        }
        _ => AudioError::NotAudio {
            path: path.to_owned(),
        },
    }
}

/// True when `name` (possibly FFmpeg's comma-separated list of names) is an allowed demuxer.
pub fn is_allowed_demuxer(name: &str) -> bool {
    name.split(',')
        .any(|part| ALLOWED_DEMUXERS.contains(&part.trim()))
}

/// The demuxer FFmpeg would pick from the first bytes of `path`, without opening anything else.
fn probed_demuxer(path: &Path) -> Option<String> {
    let mut head = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(path)
        .ok()?
        .take(PROBE_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    let size = c_int::try_from(head.len()).ok()?;
    // FFmpeg's probes may read a little past the end: the padding must be zeroed.
    head.resize(head.len() + ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let filename = CString::new(path.as_os_str().as_bytes()).ok()?;
    let probe = ffi::AVProbeData {
        filename: filename.as_ptr(),
        buf: head.as_mut_ptr(),
        buf_size: size,
        mime_type: ptr::null(),
    };
    // SAFETY: `probe` points at live, padded buffers for the duration of the call; the returned
    // format (if any) is a static FFmpeg descriptor whose name is a static C string.
    unsafe {
        let found = ffi::av_probe_input_format(&raw const probe, 1);
        if found.is_null() || (*found).name.is_null() {
            return None;
        }
        Some(CStr::from_ptr((*found).name).to_string_lossy().into_owned())
    }
}

/// The most characters kept of one tag value (longer values, such as lyrics, are cut).
const MAX_TAG_CHARS: usize = 1024;
/// The most entries read from one metadata dictionary.
const MAX_TAG_ENTRIES: usize = 512;

/// The entries of an FFmpeg dictionary, converted lossily to UTF-8.
///
/// ffmpeg-next's own iterator turns the raw bytes into `&str` without checking them, and tags
/// (RIFF INFO, ID3v2 with a UTF-8 encoding byte, …) are whatever bytes the file holds.
pub(crate) fn dictionary_entries(dictionary: &DictionaryRef<'_>) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    // SAFETY: the dictionary is borrowed for the whole loop; av_dict_get returns entries owned by
    // it (or null at the end), whose key and value are NUL-terminated C strings.
    unsafe {
        let raw = dictionary.as_ptr();
        let mut entry: *const ffi::AVDictionaryEntry = ptr::null();
        while entries.len() < MAX_TAG_ENTRIES {
            entry = ffi::av_dict_get(raw, c"".as_ptr(), entry, ffi::AV_DICT_IGNORE_SUFFIX);
            if entry.is_null() {
                break;
            }
            if (*entry).key.is_null() || (*entry).value.is_null() {
                continue;
            }
            let key = CStr::from_ptr((*entry).key).to_string_lossy();
            let value = CStr::from_ptr((*entry).value).to_string_lossy();
            entries.push((key.into_owned(), bounded(value)));
        }
    }
    entries
}

fn bounded(value: Cow<'_, str>) -> String {
    match value.char_indices().nth(MAX_TAG_CHARS) {
        Some((end, _)) => value[..end].to_owned(),
        None => value.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_names_no_indirection_demuxer() {
        for refused in [
            "hls", "dash", "concat", "image2", "sdp", "rtsp", "lavfi", "tee",
        ] {
            assert!(!is_allowed_demuxer(refused), "{refused}");
        }
        assert!(is_allowed_demuxer("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(is_allowed_demuxer("matroska,webm"));
        assert!(!is_allowed_demuxer("hls,applehttp"));
    }

    #[test]
    fn long_tag_values_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_TAG_CHARS + 10);
        let cut = bounded(Cow::Borrowed(&long));
        assert_eq!(cut.chars().count(), MAX_TAG_CHARS);
        assert_eq!(bounded(Cow::Borrowed("short")), "short");
    }

    #[test]
    fn a_path_that_looks_like_a_protocol_stays_a_plain_file_name() {
        // FFmpeg would read these as the `subfile` and `concat` protocols, opening the real
        // fixture they name; as plain file names they do not exist.
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mp3_vbr_22k_mono.mp3"
        );
        for disguised in [
            format!("subfile:,,start,0,end,0,,:{fixture}"),
            format!("concat:{fixture}|{fixture}"),
        ] {
            let error = open_input(Path::new(&disguised), PROBE_DEADLINE)
                .err()
                .map(|error| error.code());
            assert_eq!(error, Some("not_audio"), "{disguised}");
        }
        assert!(open_input(Path::new(fixture), PROBE_DEADLINE).is_ok());
    }

    #[test]
    fn an_expired_watchdog_stays_expired() {
        let watchdog = Watchdog::new(Duration::ZERO);
        assert!(watchdog.expired());
        assert!(watchdog.expired());
        let generous = Watchdog::new(Duration::from_secs(u64::MAX));
        assert!(!generous.expired());
    }
}
