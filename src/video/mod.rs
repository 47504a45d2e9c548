//! The video pipeline: demux/decode → stylize → encode/mux, one thread per stage joined
//! by bounded channels, with every non-video stream copied through.

#[cfg(feature = "video")]
pub mod batch_choice;
#[cfg(feature = "video")]
pub mod chunk;
#[cfg(feature = "video")]
pub mod convert;
#[cfg(feature = "video")]
pub mod destination;
#[cfg(feature = "video")]
pub mod endpoint;
#[cfg(feature = "video")]
pub mod frame_form;
#[cfg(feature = "video")]
pub mod frames;
#[cfg(feature = "video")]
pub mod join;
#[cfg(feature = "video")]
pub mod pipeline;
#[cfg(feature = "video")]
pub mod sink;
#[cfg(feature = "video")]
pub mod source;
pub mod timecode;

/// The error of a command that needs FFmpeg in a build without it.
#[cfg(not(feature = "video"))]
pub fn unsupported() -> crate::Error {
    crate::Error::Usage(
        "this faststyle was built without video support (cargo feature `video`); \
         rebuild with default features to read or write video"
            .into(),
    )
}

#[cfg(feature = "video")]
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
