//! The first frames of a video as RGB pictures, for measurements (`faststyle eval
//! --temporal --video`), not for re-encoding.

use std::path::Path;

use ffmpeg_next as ff;

use super::convert::ToRgb;
use super::endpoint::Endpoint;
use super::source::Source;
use crate::error::Error;
use crate::picture::Planar;

/// Up to `limit` frames from the start, scaled to at most `max_height` rows.
pub fn read_frames(path: &Path, limit: usize, max_height: u32) -> Result<Vec<Planar>, Error> {
    let mut source = Source::open(&Endpoint::File(path.to_path_buf()), None, &[])?;
    let input_error = |detail: String| Error::Input {
        path: path.to_path_buf(),
        detail,
    };
    let mut decoder = source
        .video_decoder()
        .map_err(|e| input_error(format!("cannot open the video decoder: {e}")))?;
    let (w, h) = crate::cmd::video::output_size(source.width, source.height, Some(max_height));
    let mut to_rgb = ToRgb::new(w, h);
    let mut frames = Vec::new();
    let mut frame = ff::frame::Video::empty();
    let mut receive = |decoder: &mut ff::decoder::Video, frames: &mut Vec<Planar>| {
        while frames.len() < limit && decoder.receive_frame(&mut frame).is_ok() {
            let image = to_rgb
                .convert(&frame)
                .map_err(|e| input_error(format!("cannot convert a video frame: {e}")))?;
            frames.push(image);
        }
        Ok::<_, Error>(())
    };
    let video_index = source.video_index;
    for (stream, packet) in source.input.packets() {
        if frames.len() >= limit {
            break;
        }
        if stream.index() == video_index {
            // Damaged packets are skipped, as the decoder would.
            let _ = decoder.send_packet(&packet);
            receive(&mut decoder, &mut frames)?;
        }
    }
    let _ = decoder.send_eof();
    receive(&mut decoder, &mut frames)?;
    if frames.len() < 2 {
        return Err(input_error(format!(
            "has {} decodable frame(s); the flicker measure needs at least 2",
            frames.len()
        )));
    }
    Ok(frames)
}
