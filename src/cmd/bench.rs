//! `faststyle bench`: how fast the network runs here, on synthetic frames, and optionally
//! how fast a whole video goes through the pipeline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::Autodiff;
use burn::optim::AdamConfig;
use burn::tensor::FloatDType;
use serde::Serialize;

use crate::catalog;
use crate::cli::BenchArgs;
use crate::device::{self, BackendTask, DeviceSpec};
use crate::error::{Error, Result};
use crate::kernels::{Kernels, TrainKernels};
use crate::model::vgg;
use crate::model::{StyleFile, StyleMeta, Transformer, TransformerConfig};
use crate::picture::{self, Planar};
use crate::stylize::{StyleOptions, Stylizer};
use crate::train::objective::defaults;
use crate::train::{Objective, train_step};
use crate::yuv::{Yuv420, YuvModel};

#[derive(Debug, Serialize)]
struct NetworkFigures {
    device: String,
    width: u32,
    height: u32,
    batch: usize,
    frames: usize,
    network_width: f32,
    /// The number format it ran in: f32, f16 or bf16.
    precision: &'static str,
    /// What crossed between host and device: "rgb" (f32) or "yuv" (8-bit 4:2:0, `--yuv`).
    frames_as: &'static str,
    seconds: f64,
    ms_per_frame: f64,
    fps: f64,
    gflop_per_frame: f64,
    gflops: f64,
}

#[derive(Debug, Serialize)]
struct VideoFigures {
    file: PathBuf,
    frames: u64,
    seconds: f64,
    fps: f64,
    decode_fps: f64,
    stylize_fps: f64,
    encode_fps: f64,
}

#[derive(Debug, Serialize)]
struct TrainFigures {
    device: String,
    width: u32,
    height: u32,
    batch: usize,
    steps: usize,
    network_width: f32,
    precision: &'static str,
    /// VGG19 with random weights (--random-vgg).
    random_vgg: bool,
    seconds: f64,
    ms_per_step: f64,
    steps_per_s: f64,
    gflop_per_step: f64,
    gflops: f64,
}

#[derive(Debug, Serialize)]
struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<NetworkFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    train: Option<TrainFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<VideoFigures>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let spec = args.device.resolve();
    device::check_device(spec)?;
    if args.train {
        let precision = device::set_train_precision(args.precision, spec)?;
        let mut figures = device::dispatch(
            spec,
            TimeTraining {
                args: &args,
                spec,
                compute: precision.compute,
            },
        )?;
        figures.precision = precision.label;
        return report_training(figures, args.json);
    }
    let style = match &args.style {
        Some(name) => catalog::load(name)?.0,
        None => {
            let config = TransformerConfig::new(args.width, 5);
            config.validate().map_err(Error::Usage)?;
            let model = Transformer::<device::Cpu>::new(&config, &Default::default());
            StyleFile::from_model(&model, config, StyleMeta::default())
        }
    };
    let options = StyleOptions {
        dtype: device::inference_dtype(args.precision, spec)?,
        ..StyleOptions::default()
    };
    let network = device::dispatch(
        spec,
        TimeNetwork {
            style: &style,
            args: &args,
            spec,
            options,
        },
    )?;
    let video = match &args.video {
        Some(file) => Some(time_video(file, &style, &args, spec)?),
        None => None,
    };
    if args.json {
        return print_json(&Figures {
            network: Some(network),
            train: None,
            video,
        });
    }
    let n = &network;
    println!(
        "{}x{} batch {} on {} (network width {}, {}, frames as {}): {:.1} ms/frame, {:.2} fps, {:.1} GFLOP/s ({:.1} GFLOP a frame, {} frames in {:.2} s)",
        n.width,
        n.height,
        n.batch,
        n.device,
        n.network_width,
        n.precision,
        n.frames_as,
        n.ms_per_frame,
        n.fps,
        n.gflops,
        n.gflop_per_frame,
        n.frames,
        n.seconds
    );
    if let Some(v) = &video {
        println!(
            "{}: {} frames in {:.1} s, {:.2} fps end to end; decode {:.1}, stylize {:.2}, encode {:.1} fps when busy",
            v.file.display(),
            v.frames,
            v.seconds,
            v.fps,
            v.decode_fps,
            v.stylize_fps,
            v.encode_fps
        );
    }
    Ok(())
}

struct TimeNetwork<'a> {
    style: &'a StyleFile,
    options: StyleOptions,
    args: &'a BenchArgs,
    spec: DeviceSpec,
}

impl BackendTask for TimeNetwork<'_> {
    type Output = Result<NetworkFigures>;

    fn run<B: Kernels>(self, device: B::Device) -> Result<NetworkFigures> {
        let (w, h) = self.args.size();
        let batch = self.args.batch() as usize;
        let model = self.style.to_model::<B>(&device, Path::new("style"))?;
        let stylizer = Stylizer::new(
            model,
            device.clone(),
            self.options,
            self.spec == DeviceSpec::Cpu,
        );
        let n = (w * h) as usize;
        let frame = Planar::test_pattern(w as usize, h as usize);
        let model = YuvModel::new(YuvModel::BT709, false);
        let planes = Yuv420::from_planar(&frame, model);
        let (frames, planes) = (vec![frame; batch], vec![&planes; batch]);
        // Reading the result back forces the work to finish on asynchronous backends.
        let run = || {
            if self.args.yuv {
                stylizer.run_yuv(&planes, model).len()
            } else {
                stylizer.run(&frames).len()
            }
        };
        run(); // warm-up: allocations, kernels
        let runs = (self.args.frames as usize).div_ceil(batch);
        let start = Instant::now();
        for _ in 0..runs {
            run();
        }
        let seconds = start.elapsed().as_secs_f64();
        let timed = runs * batch;
        let gflop = 2.0 * self.style.config.macs_per_pixel() * n as f64 / 1e9;
        Ok(NetworkFigures {
            device: self.spec.to_string(),
            width: w,
            height: h,
            batch,
            frames: timed,
            network_width: self.style.config.width,
            precision: device::dtype_name(self.options.dtype),
            frames_as: if self.args.yuv { "yuv" } else { "rgb" },
            seconds,
            ms_per_frame: 1e3 * seconds / timed as f64,
            fps: timed as f64 / seconds,
            gflop_per_frame: gflop,
            gflops: gflop * timed as f64 / seconds,
        })
    }
}

fn print_json(figures: &Figures) -> Result<()> {
    let text = serde_json::to_string_pretty(figures).map_err(|e| Error::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn report_training(t: TrainFigures, json: bool) -> Result<()> {
    if json {
        return print_json(&Figures {
            network: None,
            train: Some(t),
            video: None,
        });
    }
    println!(
        "training step, {} crops of {}x{} on {} (network width {}, {}{}): {:.0} ms/step, {:.3} steps/s, {:.1} GFLOP/s ({:.0} GFLOP a step, {} steps in {:.1} s)",
        t.batch,
        t.width,
        t.height,
        t.device,
        t.network_width,
        t.precision,
        if t.random_vgg { ", random VGG19" } else { "" },
        t.ms_per_step,
        t.steps_per_s,
        t.gflops,
        t.gflop_per_step,
        t.steps,
        t.seconds
    );
    Ok(())
}

/// Times `--steps` training steps after one warm-up step (which also compiles and tunes
/// GPU kernels), with the loss of `train`'s defaults.
struct TimeTraining<'a> {
    args: &'a BenchArgs,
    spec: DeviceSpec,
    compute: FloatDType,
}

impl BackendTask for TimeTraining<'_> {
    type Output = Result<TrainFigures>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        time_steps::<Autodiff<B>>(self.args, self.spec, (&device, self.compute))
    }
}

fn time_steps<B: TrainKernels>(
    args: &BenchArgs,
    spec: DeviceSpec,
    (device, compute): (&B::Device, FloatDType),
) -> Result<TrainFigures> {
    let (w, h) = args.size();
    let batch = args.batch() as usize;
    let config = TransformerConfig::new(args.width, 5);
    config.validate().map_err(Error::Usage)?;
    let path = (!args.random_vgg).then(|| vgg::weights_path(args.vgg.as_deref()));
    let objective = Objective::<B>::for_benchmarks(path.as_deref(), device)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut model = Transformer::<B>::new(&config, device);
    let mut optim = AdamConfig::new().init::<B, Transformer<B>>();
    let photos = vec![Planar::test_pattern(w as usize, h as usize); batch];
    let mut step = |model: Transformer<B>| {
        let x = picture::to_tensor::<B>(&photos, device).cast(compute);
        // The loss terms come back as numbers: the step has finished on any backend.
        train_step(
            model,
            &mut optim,
            &objective,
            x,
            1e-3,
            None,
            defaults::PEAK_WEIGHT,
        )
        .0
    };
    model = step(model);
    let steps = args.steps as usize;
    let start = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    let seconds = start.elapsed().as_secs_f64();
    let loss_macs = objective
        .spec()
        .step_macs_per_pixel()
        .map_err(Error::Internal)?;
    // The network's backward pass costs about twice its forward pass.
    let macs = 3.0 * config.macs_per_pixel() + loss_macs;
    let gflop = 2.0 * macs * (w * h) as f64 * batch as f64 / 1e9;
    Ok(TrainFigures {
        device: spec.to_string(),
        width: w,
        height: h,
        batch,
        steps,
        network_width: args.width,
        precision: "f32",
        random_vgg: args.random_vgg,
        seconds,
        ms_per_step: 1e3 * seconds / steps as f64,
        steps_per_s: steps as f64 / seconds,
        gflop_per_step: gflop,
        gflops: gflop * steps as f64 / seconds,
    })
}

#[cfg(not(feature = "video"))]
fn time_video(_: &Path, _: &StyleFile, _: &BenchArgs, _: DeviceSpec) -> Result<VideoFigures> {
    Err(crate::video::unsupported())
}

#[cfg(feature = "video")]
fn time_video(
    file: &Path,
    style: &StyleFile,
    args: &BenchArgs,
    spec: DeviceSpec,
) -> Result<VideoFigures> {
    let dir = tempfile::tempdir().map_err(|e| Error::Internal(e.to_string()))?;
    let style_path = dir.path().join("bench.safetensors");
    style
        .save(&style_path, crate::model::WeightStorage::F32, true)
        .map_err(Error::from)?;
    let video_args = crate::cli::VideoArgs {
        input: file.to_path_buf(),
        style: style_path.to_string_lossy().into_owned(),
        output: Some(dir.path().join("out.mp4")),
        batch: Some(args.batch()),
        device: crate::cli::DevicesArg {
            device: Some(crate::device::DeviceList::Listed(vec![spec])),
        },
        crf: 18,
        preset: "medium".to_string(),
        codec: Some("libx264".to_string()),
        output_arg: None,
        format: None,
        input_format: None,
        input_options: Vec::new(),
        style_args: crate::cli::StyleArgs {
            preserve_color: false,
            strength: 1.0,
            stroke_scale: 1.0,
            precision: args.precision,
        },
        max_height: None,
        start: None,
        duration: None,
        chunk: None,
        chunks: None,
        chunk_index: None,
        overwrite: true,
    };
    let report = super::video::stylize_video(&video_args, true)?;
    Ok(VideoFigures {
        file: file.to_path_buf(),
        frames: report.frames_written,
        seconds: report.wall.as_secs_f64(),
        fps: report.frames_written as f64 / report.wall.as_secs_f64().max(1e-9),
        decode_fps: report.decode.fps(),
        stylize_fps: report.stylize.fps(),
        encode_fps: report.encode.fps(),
    })
}
