//! Pictures of a run: a grid of fixed validation photos (input | stylized) and the loss
//! log as CSV.

use std::io::Write;
use std::path::Path;

use image::RgbImage;

use crate::picture::Planar;

/// Rows of (input, stylized) pairs side by side, with a 4-pixel white gutter.
pub fn grid(pairs: &[(Planar, Planar)]) -> RgbImage {
    let gap = 4u32;
    let (w, h) = pairs
        .first()
        .map(|(a, _)| (a.width as u32, a.height as u32))
        .unwrap_or((1, 1));
    let rows = pairs.len().max(1) as u32;
    let mut out = RgbImage::from_pixel(
        2 * w + 3 * gap,
        rows * h + (rows + 1) * gap,
        image::Rgb([255; 3]),
    );
    for (r, (input, styled)) in pairs.iter().enumerate() {
        let y = gap + r as u32 * (h + gap);
        image::imageops::replace(&mut out, &input.to_rgb(), gap as i64, y as i64);
        image::imageops::replace(&mut out, &styled.to_rgb(), (2 * gap + w) as i64, y as i64);
    }
    out
}

/// Appends one line to the loss CSV, writing the header to a new file.
pub fn log_losses(path: &Path, step: u64, seconds: f64, terms: [f64; 4]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if new {
        writeln!(f, "step,seconds,content,style,tv,total")?;
    }
    writeln!(
        f,
        "{step},{seconds:.3},{:.6e},{:.6e},{:.6e},{:.6e}",
        terms[0], terms[1], terms[2], terms[3]
    )
}
