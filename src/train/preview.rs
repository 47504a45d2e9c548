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
/// Appends one step's terms (content, style, tv, total, and stability if on) to the CSV.
pub fn log_losses(path: &Path, step: u64, seconds: f64, terms: &[f64]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if new {
        let names = ["content", "style", "tv", "total", "stability", "peaks"];
        writeln!(f, "step,seconds,{}", names[..terms.len()].join(","))?;
    }
    let values: Vec<String> = terms.iter().map(|v| format!("{v:.6e}")).collect();
    writeln!(f, "{step},{seconds:.3},{}", values.join(","))
}

/// Reads the loss CSV back: (step, [content, style, tv, total]).
pub fn read_losses(path: &Path) -> Vec<(u64, [f64; 4])> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            Some((
                f.first()?.parse().ok()?,
                [num(2)?, num(3)?, num(4)?, num(5)?],
            ))
        })
        .collect()
}

/// Fonts tried for the plot's labels ($FASTSTYLE_FONT first); Debian's fonts-dejavu-core,
/// which scripts/setup.sh installs, provides the first.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn register_font() -> bool {
    use std::sync::OnceLock;
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        let candidates = std::env::var("FASTSTYLE_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                )
                .is_ok()
                {
                    return true;
                }
            }
        }
        false
    })
}

/// A PNG of the loss terms over the steps, log scale. Without a font the curves are drawn
/// unlabelled (colours: content blue, style red, tv green, total black).
pub fn plot_losses(rows: &[(u64, [f64; 4])], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    if rows.is_empty() {
        return Ok(());
    }
    let labels = register_font();
    let positive = rows
        .iter()
        .flat_map(|(_, t)| t.iter().copied())
        .filter(|v| *v > 0.0);
    let (lo, hi) = positive.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return Ok(());
    }
    let last = rows.last().map(|r| r.0).unwrap_or(1).max(1);
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .margin(16)
        .x_label_area_size(if labels { 36 } else { 8 })
        .y_label_area_size(if labels { 72 } else { 8 });
    if labels {
        builder.caption("training loss (weighted)", ("sans-serif", 22));
    }
    let mut chart = builder
        .build_cartesian_2d(0u64..last, (lo * 0.8..hi * 1.25).log_scale())
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("step")
            .y_desc("loss")
            .y_label_formatter(&|v| format!("{v:.0e}"));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    const SERIES: [(&str, RGBColor); 4] = [
        ("content", BLUE),
        ("style", RED),
        ("tv", GREEN),
        ("total", BLACK),
    ];
    for (i, &(name, color)) in SERIES.iter().enumerate() {
        let points = rows
            .iter()
            .filter(|(_, t)| t[i] > 0.0)
            .map(|(s, t)| (*s, t[i]));
        let drawn = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if labels {
            drawn.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if labels {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
