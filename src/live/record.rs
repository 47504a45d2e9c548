//! Recording what was shown, when it was shown: each frame gets the wall-clock time since
//! the first one as its timestamp, so the recording plays at the pace the user saw.

use std::time::Instant;

use ffmpeg_next as ff;

use crate::error::Error;
use crate::picture::Planar;
use crate::video::convert::FromRgb;
use crate::video::sink::Sink;

pub struct Recorder {
    sink: Sink,
    from_rgb: FromRgb,
    start: Option<Instant>,
    last_pts: Option<i64>,
    pub frames: u64,
}

impl Recorder {
    /// `sink` was opened with `Timing::WallClock` (a millisecond time base).
    pub fn new(sink: Sink) -> Self {
        let from_rgb = FromRgb::new(sink.pixel_format, sink.color);
        Self {
            sink,
            from_rgb,
            start: None,
            last_pts: None,
            frames: 0,
        }
    }

    pub fn write(&mut self, image: &Planar, shown: Instant) -> Result<(), Error> {
        let start = *self.start.get_or_insert(shown);
        let tb = self.sink.encoder_time_base;
        let ticks = shown.duration_since(start).as_secs_f64() * f64::from(tb.denominator())
            / f64::from(tb.numerator());
        // Two frames within one tick still need increasing timestamps.
        let pts = (ticks.round() as i64).max(self.last_pts.map_or(0, |p| p + 1));
        self.last_pts = Some(pts);
        let mut frame = self.from_rgb.convert(image).map_err(|e| Error::Output {
            path: self.sink.path.clone(),
            detail: format!("cannot convert a stylized frame: {e}"),
        })?;
        frame.set_pts(Some(pts));
        frame.set_kind(ff::picture::Type::None);
        self.sink.encode(Some(&frame))?;
        self.frames += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), Error> {
        self.sink.encode(None)?;
        self.sink.finish()
    }
}
