//! One module per subcommand.

pub mod bench;
pub mod eval;
pub mod flicker;
pub mod image;
#[cfg(feature = "video")]
pub mod join;
#[cfg(feature = "video")]
pub mod live;
pub mod optimize;
pub mod styles;
pub mod train;
#[cfg(feature = "video")]
pub mod video;

use crate::cli::{Cli, Command};
use crate::error::Result;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        #[cfg(feature = "video")]
        Command::Video(args) => video::run(args),
        #[cfg(not(feature = "video"))]
        Command::Video(_) => Err(crate::video::unsupported()),
        #[cfg(feature = "video")]
        Command::Join(args) => join::run(args),
        #[cfg(not(feature = "video"))]
        Command::Join(_) => Err(crate::video::unsupported()),
        #[cfg(feature = "video")]
        Command::Live(args) => live::run(args),
        #[cfg(not(feature = "video"))]
        Command::Live(_) => Err(crate::video::unsupported()),
        Command::Image(args) => image::run(args),
        Command::Styles(args) => styles::run(args),
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Optimize(args) => optimize::run(args),
    }
}
