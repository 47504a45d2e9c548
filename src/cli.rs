//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceSpec;
use crate::train::objective::defaults;

#[derive(Debug, Parser)]
#[command(
    name = "faststyle",
    version,
    about = "Fast neural style transfer for video and images, on the CPU or a CUDA GPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stylize a video: every frame painted, audio and other streams kept.
    Video(VideoArgs),
    /// Put the chunks of a split `video --chunk` run together with the source's audio and
    /// other streams.
    Join(JoinArgs),
    /// Stylize a camera (or any video input) live, in a window, newest frame first.
    Live(LiveArgs),
    /// Stylize one or more images (or every image in a folder).
    Image(ImageArgs),
    /// List the installed styles.
    Styles(StylesArgs),
    /// Learn a new style from a painting and a folder of photos.
    Train(TrainArgs),
    /// Measure frames per second of the network (and of a whole video with --video).
    Bench(BenchArgs),
    /// Score a style: content and style losses of stylized photos against the unstylized ones.
    Eval(EvalArgs),
    /// Paint one photo by optimizing the picture itself (Gatys et al.): any painting, no
    /// training, minutes a picture.
    Optimize(OptimizeArgs),
}

#[derive(Debug, Args)]
pub struct VideoArgs {
    /// The video to stylize: a file (anything FFmpeg reads: mp4, mkv, mov, webm, avi, ...),
    /// `-` or `pipe:` for stdin, a URL (http://, rtmp://, udp://, ...), or a picture
    /// sequence such as frames/%05d.png.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// A style name (see `faststyle styles`) or a path to a style file.
    #[arg(short, long, default_value = crate::catalog::DEFAULT_STYLE)]
    pub style: String,

    /// Output: a file (its extension picks the container: mp4, mkv, mov, ...; or -f),
    /// `-` or `pipe:` for stdout (with -f), a URL (udp://, rtmp://, ...), or a picture
    /// sequence such as out/%05d.png. A file or sequence appears only when complete; a
    /// pipe or stream is written as it goes. Default: INPUT's name with -STYLE added, as
    /// .mp4, beside it.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// The output, given after the input as with ffmpeg (`faststyle video - -f nut -`):
    /// the same as -o.
    #[arg(value_name = "OUTPUT", conflicts_with = "output")]
    pub output_arg: Option<PathBuf>,

    /// The output's container, as ffmpeg's -f before an output: nut, matroska, mp4,
    /// mpegts, image2, ... Needed where the name does not tell it (stdout, most URLs).
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,

    /// The input's format, as ffmpeg's -f before -i (FFmpeg probes it when not given).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,

    /// An option for the input's demuxer or protocol, as ffmpeg's options before -i;
    /// repeatable. E.g. framerate=30 for a picture sequence (25 otherwise).
    #[arg(long = "input-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub input_options: Vec<(String, String)>,

    /// Frames per network run. Default: 4 on a GPU, 1 on the CPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: Option<u32>,

    #[command(flatten)]
    pub device: DevicesArg,

    /// Constant-quality factor of the encoder, as in ffmpeg (lower is better, bigger).
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: u8,

    /// Encoder speed/size trade-off for libx264/libx265, as in ffmpeg.
    #[arg(long, default_value = "medium")]
    pub preset: String,

    /// Video encoder (any FFmpeg encoder in this build: libx264, libx265, libvpx-vp9,
    /// png, ...). Default: libx264 where the container holds H.264, else the container's
    /// own (png for .png pictures, VP9 for webm).
    #[arg(long)]
    pub codec: Option<String>,

    #[command(flatten)]
    pub style_args: StyleArgs,

    /// Scale frames down to at most this height first (aspect kept, even sizes).
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(16..))]
    pub max_height: Option<u32>,

    /// Start this far into the input (seconds or H:MM:SS.s); audio is cut alike.
    #[arg(long, value_name = "T", value_parser = crate::video::timecode::parse_time)]
    pub start: Option<f64>,

    /// Stylize only this long (seconds or H:MM:SS.s).
    #[arg(long, value_name = "T", value_parser = crate::video::timecode::parse_time)]
    pub duration: Option<f64>,

    /// Write only chunk K of N (numbered from 0): an exact range of frames, encoded video
    /// only, into the folder given as the output (chunk-KKKK-of-NNNN.nut and its manifest).
    /// A chunk already there that verifies is skipped. `faststyle join` puts them together.
    #[arg(long, value_name = "K/N", conflicts_with_all = ["chunks", "start", "duration"])]
    pub chunk: Option<String>,

    /// Split into N chunks; which one this run writes is --chunk-index, else
    /// $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX (a job array's index).
    #[arg(long, value_name = "N", conflicts_with_all = ["start", "duration"],
          value_parser = clap::value_parser!(u32).range(1..))]
    pub chunks: Option<u32>,

    /// The chunk this run writes, with --chunks.
    #[arg(long, value_name = "K", requires = "chunks")]
    pub chunk_index: Option<u32>,

    /// Replace an existing output file.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

/// How a style is applied to pictures: the same flags for video, image and live.
#[derive(Debug, Args)]
pub struct StyleArgs {
    /// Keep the input's colours: apply the style to luminance only.
    #[arg(long)]
    pub preserve_color: bool,

    /// How much of the style to apply: 0 returns the input, 1 the full style.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit_interval)]
    pub strength: f32,

    /// Paint strokes F times larger (1 to 8): the network runs on the picture scaled down
    /// by F, F² times faster, and its result is scaled back up, a little softer. A style
    /// paints strokes of a fixed size in pixels, so on HD frames they look finer than on
    /// the ~500-pixel photos it was trained on: 2 suits 1080p.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_stroke_scale)]
    pub stroke_scale: f32,

    /// The network's number format. On a GPU f16 by default: tensor cores and half the
    /// memory traffic, with the instance norms' statistics kept in f32: within 1 level of
    /// f32 on over 99.8% of values; bf16 or f32 on request. The CPU runs f32.
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
}

impl StyleArgs {
    /// The options for a run on `device`, whose backend decides what `--precision auto`
    /// means and whether the asked one runs there.
    pub fn options(
        &self,
        device: DeviceSpec,
    ) -> Result<crate::stylize::StyleOptions, crate::error::Error> {
        Ok(crate::stylize::StyleOptions {
            preserve_color: self.preserve_color,
            strength: self.strength,
            stroke_scale: self.stroke_scale,
            dtype: crate::device::inference_dtype(self.precision, device)?,
        })
    }
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The video the chunks were made from (its audio, subtitles, chapters and metadata are
    /// copied into the result).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// The folder the chunks were written to.
    #[arg(long, value_name = "DIR")]
    pub chunks: PathBuf,

    /// The joined video (a file, written atomically; `-` with -f for stdout).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// The output, given after the input as with ffmpeg: the same as -o.
    #[arg(value_name = "OUTPUT", conflicts_with = "output")]
    pub output_arg: Option<PathBuf>,

    /// The output's container where its name does not tell it.
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,

    /// Replace an existing output file.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Images or folders of images (a folder's images are taken, not its subfolders).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// A style name (see `faststyle styles`) or a path to a style file.
    #[arg(short, long, default_value = crate::catalog::DEFAULT_STYLE)]
    pub style: String,

    /// Output file (one input only). Its extension picks the format: png, jpg, webp, ...
    #[arg(short, long, value_name = "OUTPUT", conflicts_with = "out_dir")]
    pub output: Option<PathBuf>,

    /// Folder for the outputs, which keep their input file names. Created if missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Scale each image down first so that its longer side is at most N pixels.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(8..))]
    pub max_size: Option<u32>,

    #[command(flatten)]
    pub style_args: StyleArgs,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Replace existing output files.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The camera (default /dev/video0, through FFmpeg's v4l2 input) or any FFmpeg input:
    /// a file, a URL, `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// A style name or file; give several to switch between them with n and p (default:
    /// the given style, then every other installed one).
    #[arg(short, long = "style", default_value = crate::catalog::DEFAULT_STYLE)]
    pub styles: Vec<String>,

    /// Record what was shown, with wall-clock timestamps: a file (written atomically), a
    /// URL (udp://, rtmp://, with -f), or a v4l2 output device (-f v4l2 /dev/videoN, a
    /// virtual camera for video calls).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// The recording's container, as ffmpeg's -f before an output (mpegts, flv, v4l2, ...).
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,

    /// The input's format, as ffmpeg's -f before -i (v4l2 for /dev/video*, else probed).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,

    /// An option for the input's demuxer or device, as ffmpeg's options before -i;
    /// repeatable: e.g. video_size=1280x720, framerate=30, input_format=mjpeg.
    #[arg(long = "input-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub input_options: Vec<(String, String)>,

    /// Stylize at this size. Default: the input's, scaled down to at most 480 lines.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,

    /// Show the window (default when a display is available).
    #[arg(long, overrides_with = "no_window")]
    pub window: bool,

    /// No window: headless, e.g. to stream or record only.
    #[arg(long)]
    pub no_window: bool,

    /// Read a file at its own frame rate, as a camera delivers frames (ffmpeg's -re).
    #[arg(long)]
    pub realtime: bool,

    /// Stop after this much of the input (seconds or H:MM:SS.s).
    #[arg(long, value_name = "T", value_parser = crate::video::timecode::parse_time)]
    pub duration: Option<f64>,

    /// Folder for the snapshots the s key saves.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub snapshot_dir: PathBuf,

    /// Video encoder of the recording. Default: as for `faststyle video`.
    #[arg(long)]
    pub codec: Option<String>,

    /// Constant-quality factor of the recording's encoder.
    #[arg(long, default_value_t = 23, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: u8,

    /// Encoder speed of the recording: fast presets keep up with the camera.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,

    #[command(flatten)]
    pub style_args: StyleArgs,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Replace an existing recording file.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

/// `--precision`: the number format the network computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// f16 for inference on a GPU, f32 on the CPU; training: bf16 GEMM operands on CPUs
    /// that have AMX or AVX512-BF16, else f32.
    Auto,
    F32,
    F16,
    Bf16,
}

#[derive(Debug, Args)]
pub struct DeviceArg {
    /// cpu, cuda or cuda:N. Default: the first GPU when built with CUDA and one is present,
    /// else the CPU.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceSpec>,
}

/// `--device` of `video`: one device or several of one kind, one stylize worker each.
#[derive(Debug, Args)]
pub struct DevicesArg {
    /// cpu, cuda or cuda:N; several of one kind (cuda:0,cuda:1, or cuda:all for every GPU;
    /// cpu,cpu works too) run one stylize worker each, frames leaving in order. Default:
    /// the first GPU when built with CUDA and one is present, else the CPU.
    #[arg(long, value_name = "DEVICE[,DEVICE...]")]
    pub device: Option<crate::device::DeviceList>,
}

impl DeviceArg {
    pub fn resolve(&self) -> DeviceSpec {
        self.device.unwrap_or_else(crate::device::default_device)
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The painting whose style to learn.
    #[arg(long, value_name = "PAINTING", required_unless_present = "teacher")]
    pub style_image: Option<PathBuf>,

    /// Learn to paint like this trained style (a name or a file) instead of from a
    /// painting: the network is trained to reproduce the style's pictures of the photos
    /// (pixel MSE plus the --texture-weight term). For the smaller, faster --width
    /// variants of a style (--width defaults to 0.5 with it).
    #[arg(long, value_name = "STYLE", conflicts_with = "style_image")]
    pub teacher: Option<String>,

    /// With --teacher: weight of the texture term, the Gram matrices of the network's and
    /// the teacher's pictures compared at block1..3_conv1 (0: pixel MSE only, which blurs
    /// the strokes).
    #[arg(long, default_value_t = crate::train::trainer::DEFAULT_TEXTURE_WEIGHT,
          requires = "teacher")]
    pub texture_weight: f64,

    /// Folder of photos to train on (searched recursively; jpg, png, webp).
    #[arg(long, value_name = "DIR")]
    pub dataset: PathBuf,

    /// The style file to write, or a style name (written to the styles folder).
    /// Checkpoints, previews and the loss log go to a folder beside it, NAME.train/.
    #[arg(long, value_name = "STYLE_FILE_OR_NAME")]
    pub out: String,

    /// Optimizer steps in all (a resumed run continues up to this).
    #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,

    /// Photos per step.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub batch: u32,

    /// Side of the square training crops (a multiple of 4).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=2048))]
    pub image_size: u32,

    /// Crops cover this times 60-100% of a photo's shorter side before they are resized to
    /// --image-size. With --image-size 128, 0.5 shows the photos at the scale the 256 default
    /// does, for a step about four times cheaper (then --style-tiles 1 keeps the style
    /// loss's tiles the size of the default's).
    #[arg(long, default_value_t = 1.0, value_parser = parse_crop_scale)]
    pub crop_scale: f32,

    /// The painting is scaled down to at most this long side.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=4096))]
    pub style_size: u32,

    /// Weight of the content loss (feature MSE at --content-layer).
    #[arg(long, default_value_t = defaults::CONTENT_WEIGHT)]
    pub content_weight: f64,

    /// Weight of the style loss (Gram MSE summed over --style-layers).
    #[arg(long, default_value_t = defaults::STYLE_WEIGHT)]
    pub style_weight: f64,

    /// Weight of the total-variation loss (on 0..255 pixels).
    #[arg(long, default_value_t = defaults::TV_WEIGHT)]
    pub tv_weight: f64,

    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,

    /// Network width: 1.0 (32/64/128 channels) or smaller for CPU-friendly styles.
    /// Default: 1.0 (0.5 with --teacher), or the --init style's.
    #[arg(long)]
    pub width: Option<f32>,

    /// The output head's half-range S: pixels are 127.5 + S·tanh(u), clamped to 0..255
    /// when stylizing. Above 127.5 pure colours are reached with the gradient alive
    /// (127.5, the first styles' head, leaves them in tanh's flat tails, as blobs).
    #[arg(long, default_value_t = crate::model::config::OUTPUT_SCALE,
          value_parser = parse_output_scale)]
    pub output_scale: f32,

    /// Instance-normalize the output layer too, as lengstrom's network does: the colour
    /// statistics of every picture become learned constants that no blob of pixels can
    /// move. Default: off, or the --init style's.
    #[arg(long)]
    pub output_norm: bool,

    /// The instance norms' variance epsilon: a channel whose spread over a picture is well
    /// below sqrt(EPS) is left small instead of scaled up to unit spread, so the network
    /// can quiet a channel without a blob. Default: the --init style's, else 0.1 (the first
    /// styles have 1e-5).
    #[arg(long, value_name = "EPS", value_parser = parse_norm_eps)]
    pub norm_eps: Option<f64>,

    /// Start from this trained style's network (a name or a file) instead of random
    /// weights, with a fresh optimizer: to continue a style in a new run, or to fine-tune
    /// it, e.g. with --stability-weight. The style file records both runs' steps. To
    /// continue a style, lower --lr (2e-4 continued shipwreck; at 1e-3 the fresh optimizer
    /// undid its style within 85 steps).
    #[arg(long, value_name = "STYLE")]
    pub init: Option<String>,

    /// VGG19 layer of the content loss.
    #[arg(long, default_value = defaults::CONTENT_LAYER)]
    pub content_layer: String,

    /// VGG19 layers of the style loss, comma-separated.
    #[arg(
        long,
        default_value = defaults::STYLE_LAYERS,
        value_delimiter = ','
    )]
    pub style_layers: Vec<String>,

    /// The style loss compares the Gram matrices of an N x N grid of tiles of each crop
    /// with the painting's, averaged: every part of the picture must carry the style, so
    /// the network cannot meet the painting's statistics with a blob in one place
    /// (1: the whole crop's Gram, as in Johnson et al.).
    #[arg(long, default_value_t = defaults::STYLE_TILES as u32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=8))]
    pub style_tiles: u32,

    /// Weight of the peak penalty (0: off): charges every channel after the first two
    /// layers whose activations, before their instance norm, concentrate their energy in a
    /// few pixels (kurtosis over 10). Such a channel lets those pixels set the norm's gain
    /// for the whole picture, and shows as a blob of saturated colour.
    #[arg(long, default_value_t = defaults::PEAK_WEIGHT)]
    pub peak_weight: f64,

    /// Weight of the stability loss (0: off): the network is penalized for answering
    /// differently to the photo with mild noise added, and to the photo shifted by 1-3
    /// pixels (Gupta et al. 2017). Costs two more network passes a step; reduces flicker.
    #[arg(long, default_value_t = 0.0)]
    pub stability_weight: f64,

    /// Write a checkpoint every N steps (and on Ctrl-C).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,

    /// Write a preview grid every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    pub preview_every: u64,

    /// Continue from the run's last checkpoint.
    #[arg(long)]
    pub resume: bool,

    /// Seed of the initial weights and of the photo order and crops.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The VGG19 weights: the Keras notop HDF5, or the f16 .safetensors copy that
    /// `cargo run --example export_vgg19` writes. Default: $FASTSTYLE_VGG19, else the cache
    /// folder scripts/fetch-vgg19.sh fills.
    #[arg(long, value_name = "PATH")]
    pub vgg: Option<PathBuf>,

    /// Title of the painting, for the style's metadata (default: the file name).
    #[arg(long)]
    pub painting_title: Option<String>,

    /// Author of the painting, for the style's metadata.
    #[arg(long, default_value = "")]
    pub painting_author: String,

    /// Training precision. On the CPU, the convolutions' GEMM operands (sums stay f32):
    /// bf16 runs on AMX tiles or with AVX512-BF16 dot products, faster than f32; auto picks
    /// it where the CPU has either (Intel Sapphire Rapids, AMD Zen 4 and later). On a GPU,
    /// mixed precision: the network and VGG19 compute in bf16 (auto) or f16 while the
    /// weights, optimizer and losses stay f32; f32 turns it off.
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Replace an existing style file.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Frame size, WIDTHxHEIGHT. Default: 1280x720; with --train 256x256.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,

    /// Frames per network run. Default: 1; with --train 4.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: Option<u32>,

    /// Frames to time (after one warm-up batch).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub frames: u32,

    /// Network width (random weights) when no --style is given.
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,

    /// Time this style's network instead of a random one.
    #[arg(short, long)]
    pub style: Option<String>,

    /// Also stylize this video end to end (output discarded) and report per-stage fps.
    #[arg(long, value_name = "FILE", conflicts_with = "train")]
    pub video: Option<PathBuf>,

    /// Time training steps instead of the network alone: a random network of --width and
    /// the VGG19 loss with the training defaults, forward, backward and Adam, on --batch
    /// crops of --size. Needs the VGG19 weights (README set-up).
    #[arg(long, conflicts_with = "style")]
    pub train: bool,

    /// Training steps to time with --train (after one warm-up step).
    #[arg(long, default_value_t = 3, requires = "train", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,

    /// The VGG19 weights for --train (Keras notop HDF5 or its f16 .safetensors copy).
    /// Default: $FASTSTYLE_VGG19, else the cache folder scripts/fetch-vgg19.sh fills.
    #[arg(long, value_name = "PATH", requires = "train")]
    pub vgg: Option<PathBuf>,

    /// With --train: VGG19 with random weights instead of the file, the same work (for a
    /// machine without the weights, such as a GPU box the binary was copied to).
    #[arg(long, requires = "train", conflicts_with = "vgg")]
    pub random_vgg: bool,

    /// The network's number format, as for `image`: on a GPU f16 by default, or bf16 or
    /// f32; the CPU runs f32. With --train, as for `train`: the CPU convolutions' GEMM
    /// operands in bf16 where AMX or AVX512-BF16 runs them (sums stay f32), else f32.
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Time frames as `video` carries them to a GPU: 8-bit 4:2:0 planes up, converted to
    /// RGB and back on the device, 8-bit planes down (1.5 bytes a pixel each way), instead
    /// of f32 RGB pictures (12).
    #[arg(long)]
    pub yuv: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// The frame size: --size, else the default of the kind of run.
    pub fn size(&self) -> (u32, u32) {
        self.size
            .unwrap_or(if self.train { (256, 256) } else { (1280, 720) })
    }

    /// Frames a run: --batch, else the default of the kind of run.
    pub fn batch(&self) -> u32 {
        self.batch.unwrap_or(if self.train { 4 } else { 1 })
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{s}' is not a size like 1280x720"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 1280x720"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 1280x720"))?;
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(format!("{w}x{h} is outside 1..16384 per side"));
    }
    Ok((w, h))
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The style to score, by name or file. With --temporal, default: every style found.
    #[arg(short, long, conflicts_with = "stylized")]
    pub style: Option<String>,

    /// Score pictures another tool stylized instead of running a style: DIR holds, for
    /// each photo of --images, a picture of the same file stem (any image format) and
    /// size. Needs --style-image.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "temporal",
        requires = "style_image"
    )]
    pub stylized: Option<PathBuf>,

    /// With --stylized: the long side the painting is scaled to for its Gram matrices
    /// (a style file records its own).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..))]
    pub style_size: u32,

    /// With --json: add each photo's scores.
    #[arg(long)]
    pub per_photo: bool,

    /// Folder of photos to stylize and score (searched recursively; jpg, png, webp).
    #[arg(long, value_name = "DIR", required_unless_present = "temporal")]
    pub images: Option<PathBuf>,

    /// Measure flicker instead: the temporal error on a synthetic clip of known motion
    /// (a pan, then a still stretch with mild noise), or with --video the consecutive-frame
    /// difference ratio on that video.
    #[arg(long)]
    pub temporal: bool,

    /// With --temporal: measure on this video's first --frames frames.
    #[arg(long, value_name = "FILE", requires = "temporal")]
    pub video: Option<PathBuf>,

    /// With --temporal --video: how many frames to read.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(2..))]
    pub frames: u32,

    /// The painting the style loss compares with. Default: the one the style was trained on,
    /// if that file is still where training found it.
    #[arg(long, value_name = "PAINTING")]
    pub style_image: Option<PathBuf>,

    /// Photos are scaled down to at most this long side first.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..))]
    pub max_size: u32,

    /// The VGG19 weights: the Keras notop HDF5, or the f16 .safetensors copy that
    /// `cargo run --example export_vgg19` writes. Default: $FASTSTYLE_VGG19, else the cache
    /// folder scripts/fetch-vgg19.sh fills.
    #[arg(long, value_name = "PATH")]
    pub vgg: Option<PathBuf>,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The photo to paint.
    #[arg(value_name = "PHOTO")]
    pub photo: PathBuf,

    /// The painting whose style to paint it in.
    #[arg(long, value_name = "PAINTING")]
    pub style_image: PathBuf,

    /// Output image; its extension picks the format (png, jpg, webp).
    /// Default: PHOTO's name with -PAINTING added, beside it.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// The photo is scaled down to at most this long side first; the result has its size.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=4096))]
    pub size: u32,

    /// The painting is scaled down to at most this long side. Default: --size.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=4096))]
    pub style_size: Option<u32>,

    /// Iterations (L-BFGS steps, or Adam updates) at each scale, coarsest first and
    /// comma-separated: the last number at the photo's size, each before it at half the
    /// size of the next ("150,50": 150 at half size, then 50 at full). One number: the
    /// photo's size only.
    #[arg(long, default_value = crate::optimize::DEFAULT_STEPS, value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Vec<u64>,

    /// The picture the optimization starts from.
    #[arg(long, value_enum, default_value_t = crate::optimize::Init::Photo)]
    pub init: crate::optimize::Init,

    /// The optimizer.
    #[arg(long, value_enum, default_value_t = crate::optimize::Method::Lbfgs)]
    pub optimizer: crate::optimize::Method,

    /// Adam's learning rate, in 0..255 pixel units (--optimizer adam).
    #[arg(long, default_value_t = crate::optimize::ADAM_LR)]
    pub lr: f64,

    /// Weight of the content loss (feature MSE at --content-layer).
    #[arg(long, default_value_t = crate::optimize::CONTENT_WEIGHT)]
    pub content_weight: f64,

    /// Weight of the style loss (Gram MSE summed over --style-layers).
    #[arg(long, default_value_t = crate::optimize::STYLE_WEIGHT)]
    pub style_weight: f64,

    /// Weight of the total-variation loss (on 0..255 pixels).
    #[arg(long, default_value_t = crate::optimize::TV_WEIGHT)]
    pub tv_weight: f64,

    /// VGG19 layer of the content loss.
    #[arg(long, default_value = defaults::CONTENT_LAYER)]
    pub content_layer: String,

    /// VGG19 layers of the style loss, comma-separated.
    #[arg(long, default_value = defaults::STYLE_LAYERS, value_delimiter = ',')]
    pub style_layers: Vec<String>,

    /// Write the picture every N iterations to OUTPUT's name with .previews/ (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preview_every: u64,

    /// Seed of the noise of --init noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The VGG19 weights: the Keras notop HDF5, or the f16 .safetensors copy that
    /// `cargo run --example export_vgg19` writes. Default: $FASTSTYLE_VGG19, else the cache
    /// folder scripts/fetch-vgg19.sh fills.
    #[arg(long, value_name = "PATH")]
    pub vgg: Option<PathBuf>,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Replace an existing output file.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct StylesArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_output_scale(s: &str) -> Result<f32, String> {
    parse_in(s, crate::model::config::OUTPUT_SCALE_RANGE)
}

fn parse_norm_eps(s: &str) -> Result<f64, String> {
    parse_in(s, crate::model::config::NORM_EPS_RANGE)
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

fn parse_unit_interval(s: &str) -> Result<f32, String> {
    parse_in(s, 0.0..=1.0)
}

/// Up to 1/0.6: the largest crop a photo has room for.
fn parse_crop_scale(s: &str) -> Result<f32, String> {
    parse_in(s, 0.05..=1.0 / 0.6)
}

fn parse_stroke_scale(s: &str) -> Result<f32, String> {
    parse_in(s, 1.0..=8.0)
}

/// A number within `range` (NaN is in no range).
fn parse_in<T>(s: &str, range: std::ops::RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let v: T = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside {}..{}", range.start(), range.end()))
    }
}
