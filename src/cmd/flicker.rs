//! `faststyle eval --temporal`: how much each style flickers (see `crate::temporal`).

use std::path::Path;

use serde::Serialize;

use crate::catalog;
use crate::cli::EvalArgs;
use crate::device::{self, BackendTask, DeviceSpec};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::model::StyleFile;
use crate::picture::Planar;
use crate::stylize::{StyleOptions, Stylizer};
use crate::temporal::{self, Clip, TemporalError};

/// The synthetic clip: 256x192, panned 2 px a frame for 24 frames, then 12 still frames
/// with noise of 2 levels (σ).
const CLIP_WIDTH: usize = 256;
const CLIP_HEIGHT: usize = 192;
const PAN_STEP: usize = 2;
const PAN_FRAMES: usize = 24;
const HOLD_FRAMES: usize = 12;
const NOISE: f32 = 2.0;
/// Videos are measured at most this tall.
#[cfg_attr(not(feature = "video"), allow(dead_code))]
const VIDEO_MAX_HEIGHT: u32 = 360;

#[derive(Debug, Serialize)]
struct StyleFlicker {
    style: String,
    /// On the synthetic clip.
    #[serde(skip_serializing_if = "Option::is_none")]
    synthetic: Option<TemporalError>,
    /// On --video: stylized / input mean consecutive-frame difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    video_ratio: Option<f64>,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let names: Vec<String> = match &args.style {
        Some(s) => vec![s.clone()],
        None => catalog::list().0.into_iter().map(|e| e.name).collect(),
    };
    let input = match &args.video {
        Some(v) => Input::Video(read_video(v, args.frames as usize)?),
        None => {
            let still = temporal::test_still(CLIP_WIDTH + PAN_STEP * PAN_FRAMES, CLIP_HEIGHT);
            Input::Synthetic(temporal::synthetic_clip(
                &still,
                CLIP_WIDTH,
                PAN_STEP,
                PAN_FRAMES,
                HOLD_FRAMES,
                NOISE,
            ))
        }
    };
    let mut results = Vec::new();
    for name in &names {
        let (style, path) = catalog::load(name)?;
        let path = &path;
        let frames = input.frames();
        let stylized = device::dispatch(
            spec,
            StylizeAll {
                style: &style,
                path,
                frames,
                spec,
            },
        )?;
        let (synthetic, video_ratio) = match &input {
            Input::Synthetic(clip) => (Some(temporal::temporal_error(clip, &stylized)), None),
            Input::Video(frames) => (None, Some(temporal::consecutive_ratio(frames, &stylized))),
        };
        let result = StyleFlicker {
            style: style.meta.name.clone(),
            synthetic,
            video_ratio,
        };
        if !args.json {
            print_line(&result);
        }
        results.push(result);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).map_err(|e| Error::Internal(e.to_string()))?
        );
    }
    Ok(())
}

fn print_line(r: &StyleFlicker) {
    if let Some(e) = &r.synthetic {
        println!(
            "{}: temporal error {:.3} (stylized/input); pan {:.2}, still {:.2} levels (input {:.2}, {:.2})",
            r.style, e.ratio, e.pan, e.hold, e.input_pan, e.input_hold
        );
    }
    if let Some(v) = r.video_ratio {
        println!(
            "{}: consecutive-frame difference {v:.3}x the input's",
            r.style
        );
    }
}

enum Input {
    Synthetic(Clip),
    Video(Vec<Planar>),
}

impl Input {
    fn frames(&self) -> &[Planar] {
        match self {
            Input::Synthetic(c) => &c.frames,
            Input::Video(f) => f,
        }
    }
}

struct StylizeAll<'a> {
    style: &'a StyleFile,
    path: &'a Path,
    frames: &'a [Planar],
    spec: DeviceSpec,
}

impl BackendTask for StylizeAll<'_> {
    type Output = Result<Vec<Planar>>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        let model = self.style.to_model::<B>(&device, self.path)?;
        let stylizer = Stylizer::new(
            model,
            device,
            StyleOptions::default(),
            self.spec == DeviceSpec::Cpu,
        );
        Ok(self
            .frames
            .iter()
            .flat_map(|f| stylizer.run(std::slice::from_ref(f)))
            .collect())
    }
}

#[cfg(feature = "video")]
fn read_video(path: &std::path::Path, frames: usize) -> Result<Vec<Planar>> {
    crate::video::frames::read_frames(path, frames, VIDEO_MAX_HEIGHT)
}

#[cfg(not(feature = "video"))]
fn read_video(_: &std::path::Path, _: usize) -> Result<Vec<Planar>> {
    Err(crate::video::unsupported())
}
