//! A thin, safe wrapper over libswresample configured exactly like Chromaprint's `fpcalc`.
//!
//! `fpcalc` converts decoded audio to signed 16-bit at the fingerprinter's own rate and channel
//! count with a particular set of resampler options ("compatible mode"). Using the same options on
//! the same FFmpeg gives the same samples, hence the same fingerprint. ffmpeg-next's resampling
//! context does not expose these options, so this module talks to libswresample directly.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::ptr;

use ffmpeg_next::ffi;
use ffmpeg_next::frame;

/// The most input samples (per channel) handed to libswresample in one call.
pub(crate) const CHUNK_SAMPLES: usize = 8_192;

/// Input parameters a resampler was built for; a frame with different ones needs a new resampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputShape {
    format: i32,
    rate: i32,
    channels: i32,
}

impl InputShape {
    pub(crate) fn of(frame: &frame::Audio) -> Self {
        // SAFETY: `frame` wraps a valid AVFrame for as long as the borrow lives.
        let raw = unsafe { &*frame.as_ptr() };
        Self {
            format: raw.format,
            rate: raw.sample_rate,
            channels: raw.ch_layout.nb_channels,
        }
    }
}

pub(crate) struct Resampler {
    ctx: *mut ffi::SwrContext,
    input: InputShape,
    out_channels: usize,
}

// SAFETY: the SwrContext is owned exclusively by this value and never shared; libswresample has
// no thread affinity.
unsafe impl Send for Resampler {}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("input", &self.input)
            .field("out_channels", &self.out_channels)
            .finish_non_exhaustive()
    }
}

fn set_int(ctx: *mut ffi::SwrContext, name: &CStr, value: i64) -> Result<(), String> {
    // SAFETY: `ctx` is a live SwrContext (an AVOptions-enabled struct) and `name` is NUL-terminated.
    let ret = unsafe { ffi::av_opt_set_int(ctx.cast(), name.as_ptr(), value, 0) };
    if ret < 0 {
        return Err(format!("cannot set resampler option {name:?} ({ret})"));
    }
    Ok(())
}

impl Resampler {
    /// Builds a converter from the shape of `frame` to packed s16 at `out_rate` Hz with
    /// `out_channels` channels.
    pub(crate) fn for_frame(
        frame: &frame::Audio,
        out_rate: u32,
        out_channels: u16,
    ) -> Result<Self, String> {
        let input = InputShape::of(frame);
        if input.channels <= 0 || input.rate <= 0 {
            return Err(format!(
                "invalid decoded audio: {} channels at {} Hz",
                input.channels, input.rate
            ));
        }
        let out_rate = i32::try_from(out_rate).map_err(|_| "output rate too large".to_owned())?;
        // SAFETY: all pointers passed below are either valid for the duration of the call or
        // null where the API allows it; the layouts are initialised by libavutil before use and
        // released with av_channel_layout_uninit.
        unsafe {
            let raw = &*frame.as_ptr();
            let mut in_layout: ffi::AVChannelLayout = std::mem::zeroed();
            if raw.ch_layout.order == ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC {
                // Like fpcalc: an unknown layout is taken as the default one for that count.
                ffi::av_channel_layout_default(&raw mut in_layout, input.channels);
            } else if ffi::av_channel_layout_copy(&raw mut in_layout, &raw const raw.ch_layout) < 0
            {
                return Err("cannot copy the channel layout".to_owned());
            }
            let mut out_layout: ffi::AVChannelLayout = std::mem::zeroed();
            ffi::av_channel_layout_default(&raw mut out_layout, i32::from(out_channels));

            let mut ctx: *mut ffi::SwrContext = ptr::null_mut();
            let ret = ffi::swr_alloc_set_opts2(
                &raw mut ctx,
                &raw mut out_layout,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_S16,
                out_rate,
                &raw mut in_layout,
                std::mem::transmute::<i32, ffi::AVSampleFormat>(input.format),
                input.rate,
                0,
                ptr::null_mut(),
            );
            ffi::av_channel_layout_uninit(&raw mut in_layout);
            ffi::av_channel_layout_uninit(&raw mut out_layout);
            if ret < 0 || ctx.is_null() {
                return Err(format!("cannot allocate the resampler ({ret})"));
            }
            let mut resampler = Self {
                ctx,
                input,
                out_channels: usize::from(out_channels),
            };
            resampler.configure_like_fpcalc()?;
            let ret = ffi::swr_init(resampler.ctx);
            if ret < 0 {
                return Err(format!("cannot initialise the resampler ({ret})"));
            }
            Ok(resampler)
        }
    }

    /// The option set `fpcalc` calls "compatible mode".
    fn configure_like_fpcalc(&mut self) -> Result<(), String> {
        set_int(self.ctx, c"resampler", 0)?; // SWR_ENGINE_SWR
        set_int(self.ctx, c"filter_size", 16)?;
        set_int(self.ctx, c"phase_shift", 8)?;
        set_int(self.ctx, c"linear_interp", 1)?;
        set_int(
            self.ctx,
            c"tsf",
            ffi::AVSampleFormat::AV_SAMPLE_FMT_S16P as i64,
        )?;
        // SAFETY: live context, NUL-terminated option name.
        let ret = unsafe { ffi::av_opt_set_double(self.ctx.cast(), c"cutoff".as_ptr(), 0.8, 0) };
        if ret < 0 {
            return Err(format!("cannot set the resampler cutoff ({ret})"));
        }
        Ok(())
    }

    pub(crate) fn accepts(&self, frame: &frame::Audio) -> bool {
        self.input == InputShape::of(frame)
    }

    /// Converts `count` samples of one decoded frame starting at sample `start`, replacing the
    /// contents of `out` with interleaved samples.
    ///
    /// Callers feed a long frame in chunks of at most [`CHUNK_SAMPLES`], so the output buffer's
    /// size never follows a value the file chose.
    pub(crate) fn convert(
        &mut self,
        frame: &frame::Audio,
        start: usize,
        count: usize,
        out: &mut Vec<i16>,
    ) -> Result<(), String> {
        let total = frame.samples();
        if start.checked_add(count).is_none_or(|end| end > total) || count > CHUNK_SAMPLES {
            return Err(format!(
                "invalid chunk {start}+{count} of a {total}-sample frame"
            ));
        }
        let in_samples = i32::try_from(count).map_err(|_| "chunk too large".to_owned())?;
        let channels = usize::try_from(self.input.channels).map_err(|_| "bad channel count")?;
        // SAFETY: `frame` is a valid decoded frame in the shape this resampler was built for
        // (checked by `accepts`): `channels` planes when the format is planar, else one plane of
        // interleaved samples, each holding `total` samples. The chunk stays inside them.
        unsafe {
            let raw = &*frame.as_ptr();
            let format = std::mem::transmute::<i32, ffi::AVSampleFormat>(self.input.format);
            let bytes = usize::try_from(ffi::av_get_bytes_per_sample(format))
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| "unknown sample format".to_owned())?;
            let planar = ffi::av_sample_fmt_is_planar(format) != 0;
            let (planes, step) = if planar {
                (channels, bytes)
            } else {
                (1, bytes * channels)
            };
            if raw.extended_data.is_null() {
                return Err("decoded frame without data".to_owned());
            }
            let mut chunk: Vec<*const u8> = Vec::with_capacity(planes);
            for plane in 0..planes {
                let base = *raw.extended_data.add(plane);
                if base.is_null() {
                    return Err("decoded frame with a missing plane".to_owned());
                }
                chunk.push(base.cast_const().add(start * step));
            }
            self.run(chunk.as_mut_ptr(), in_samples, out)
        }
    }

    /// Drains the samples the resampler still holds at the end of the stream.
    pub(crate) fn flush(&mut self, out: &mut Vec<i16>) -> Result<(), String> {
        // SAFETY: a null input asks libswresample to flush its internal buffer.
        unsafe { self.run(ptr::null_mut(), 0, out) }
    }

    unsafe fn run(
        &mut self,
        input: *mut *const u8,
        in_samples: i32,
        out: &mut Vec<i16>,
    ) -> Result<(), String> {
        out.clear();
        // SAFETY (whole block): `self.ctx` is initialised; `out` has room for `capacity` samples
        // per channel in one packed plane, and its length is set only to what swr_convert wrote.
        unsafe {
            let capacity = ffi::swr_get_out_samples(self.ctx, in_samples);
            if capacity < 0 {
                return Err(format!("resampler error ({capacity})"));
            }
            let capacity = capacity.max(0) as usize + 16;
            out.reserve(capacity * self.out_channels);
            let mut out_plane = out.as_mut_ptr().cast::<u8>();
            let written = ffi::swr_convert(
                self.ctx,
                &raw mut out_plane,
                capacity as i32,
                input.cast(),
                in_samples,
            );
            if written < 0 {
                return Err(format!("resampler error ({written})"));
            }
            out.set_len(written as usize * self.out_channels);
        }
        Ok(())
    }
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from swr_alloc_set_opts2 and is freed exactly once.
        unsafe { ffi::swr_free(&raw mut self.ctx) };
    }
}

/// Asks the decoder for packed signed 16-bit output where it can produce it natively, as `fpcalc`
/// does; decoders that cannot simply ignore the request.
pub(crate) fn request_s16_output(context: &mut ffmpeg_next::codec::Context) {
    // SAFETY: `context` owns a valid, not yet opened AVCodecContext.
    unsafe {
        (*context.as_mut_ptr()).request_sample_fmt = ffi::AVSampleFormat::AV_SAMPLE_FMT_S16;
    }
}
