//! The capture thread: reads the input (a camera, a stream or a file), decodes every
//! frame, converts it to RGB at the display size and puts it in the newest-frame slot.
//! With `realtime`, a file is read at its own frame rate, as a camera would deliver it
//! (ffmpeg's `-re`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::slot::{Captured, Latest};
use crate::error::Error;
use crate::video::convert::ToRgb;
use crate::video::source::Source;

pub struct CaptureConfig {
    pub width: u32,
    pub height: u32,
    pub realtime: bool,
    /// Stop after this much of the input (seconds of its timestamps).
    pub duration: Option<f64>,
}

/// Runs until the input ends, `stop` is raised, or `duration` is reached; the slot is
/// ended in every case, so the display loop never waits for a frame that cannot come.
pub fn run(
    mut source: Source,
    config: &CaptureConfig,
    slot: &Latest,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let result = read(&mut source, config, slot, stop);
    slot.end();
    result
}

fn read(
    source: &mut Source,
    config: &CaptureConfig,
    slot: &Latest,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let path = source.path.clone();
    let input_error = |detail: String| Error::Input {
        path: path.clone(),
        detail,
    };
    let mut decoder = source
        .video_decoder()
        .map_err(|e| input_error(format!("cannot open the video decoder: {e}")))?;
    let time_base = f64::from(source.time_base);
    let mut to_rgb = ToRgb::new(config.width, config.height);
    let mut frame = ff::frame::Video::empty();
    // The first frame's timestamp and the moment it was read: the clock of --realtime.
    let mut origin: Option<(f64, Instant)> = None;
    let mut decoded = 0u64;
    let mut deliver = |decoder: &mut ff::decoder::Video| -> Result<bool, Error> {
        while decoder.receive_frame(&mut frame).is_ok() {
            let t = frame.timestamp().map(|ts| ts as f64 * time_base);
            let t = t.unwrap_or(decoded as f64 / f64::from(source.frame_rate).max(1.0));
            let (t0, start) = *origin.get_or_insert((t, Instant::now()));
            if config.duration.is_some_and(|d| t - t0 >= d) {
                return Ok(false);
            }
            if config.realtime {
                let due = start + Duration::from_secs_f64((t - t0).max(0.0));
                while Instant::now() < due {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(20)));
                }
            }
            let image = to_rgb
                .convert(&frame)
                .map_err(|e| input_error(format!("cannot convert a video frame: {e}")))?;
            decoded += 1;
            slot.put(Captured {
                image,
                at: Instant::now(),
            });
        }
        Ok(!stop.load(Ordering::Relaxed))
    };
    let video_index = source.video_index;
    let mut packet = ff::Packet::empty();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match packet.read(&mut source.input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::Other {
                errno: ff::util::error::EAGAIN,
            }) => {
                // A camera with no frame ready yet.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(e) if slot.counts().0 > 0 => {
                eprintln!("warning: {}: reading stopped ({e})", path.display());
                break;
            }
            Err(e) => return Err(input_error(format!("cannot read a frame ({e})"))),
        }
        if packet.stream() != video_index {
            continue;
        }
        // Damaged packets are skipped, as a player would.
        let _ = decoder.send_packet(&packet);
        if !deliver(&mut decoder)? {
            return Ok(());
        }
    }
    let _ = decoder.send_eof();
    deliver(&mut decoder)?;
    if slot.counts().0 == 0 {
        return Err(input_error("no video frame could be decoded".to_string()));
    }
    Ok(())
}
