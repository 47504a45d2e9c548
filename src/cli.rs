//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceSpec;

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
    /// Stylize one or more images (or every image in a folder).
    Image(ImageArgs),
    /// List the installed styles.
    Styles(StylesArgs),
}

#[derive(Debug, Args)]
pub struct VideoArgs {
    /// The video to stylize (anything FFmpeg reads: mp4, mkv, mov, webm, avi, ...).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// A style name (see `faststyle styles`) or a path to a style file.
    #[arg(short, long, default_value = crate::catalog::DEFAULT_STYLE)]
    pub style: String,

    /// Output file; its extension picks the container (mp4, mkv, mov, ...).
    /// Default: INPUT's name with -STYLE added, as .mp4, beside it.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// Frames per network run. Default: 4 on a GPU, 1 on the CPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: Option<u32>,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Constant-quality factor of the encoder, as in ffmpeg (lower is better, bigger).
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: u8,

    /// Encoder speed/size trade-off for libx264/libx265, as in ffmpeg.
    #[arg(long, default_value = "medium")]
    pub preset: String,

    /// Video encoder (any FFmpeg encoder in this build: libx264, libx265, libvpx-vp9, ...).
    #[arg(long, default_value = "libx264")]
    pub codec: String,

    /// Keep the input's colours: apply the style to luminance only.
    #[arg(long)]
    pub preserve_color: bool,

    /// How much of the style to apply: 0 returns the input, 1 the full style.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit_interval)]
    pub strength: f32,

    /// Scale frames down to at most this height first (aspect kept, even sizes).
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(16..))]
    pub max_height: Option<u32>,

    /// Start this far into the input (seconds or H:MM:SS.s); audio is cut alike.
    #[arg(long, value_name = "T", value_parser = crate::video::timecode::parse_time)]
    pub start: Option<f64>,

    /// Stylize only this long (seconds or H:MM:SS.s).
    #[arg(long, value_name = "T", value_parser = crate::video::timecode::parse_time)]
    pub duration: Option<f64>,

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

    /// Keep the input's colours: apply the style to luminance only.
    #[arg(long)]
    pub preserve_color: bool,

    /// How much of the style to apply: 0 returns the input, 1 the full style.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit_interval)]
    pub strength: f32,

    #[command(flatten)]
    pub device: DeviceArg,

    /// Replace existing output files.
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct DeviceArg {
    /// cpu, cuda or cuda:N. Default: the first GPU when built with CUDA and one is present,
    /// else the CPU.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceSpec>,
}

impl DeviceArg {
    pub fn resolve(&self) -> DeviceSpec {
        self.device.unwrap_or_else(crate::device::default_device)
    }
}

#[derive(Debug, Args)]
pub struct StylesArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0..1"))
    }
}
