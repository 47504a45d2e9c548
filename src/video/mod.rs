//! The video pipeline: demux/decode → stylize → encode/mux, one thread per stage joined
//! by bounded channels, with every non-video stream copied through.

pub mod convert;
pub mod frames;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod timecode;

/// FFmpeg's own log is silenced unless asked for: faststyle reports problems itself.
pub fn init_ffmpeg() {
    let _ = ffmpeg_next::init();
    let level = match std::env::var("FASTSTYLE_FFMPEG_LOG").as_deref() {
        Ok("debug") => ffmpeg_next::log::Level::Debug,
        Ok("info") => ffmpeg_next::log::Level::Info,
        Ok("warning") => ffmpeg_next::log::Level::Warning,
        Ok("error") => ffmpeg_next::log::Level::Error,
        _ => ffmpeg_next::log::Level::Quiet,
    };
    ffmpeg_next::log::set_level(level);
}
