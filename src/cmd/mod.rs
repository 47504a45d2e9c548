//! One module per subcommand.

pub mod bench;
pub mod eval;
pub mod flicker;
pub mod image;
pub mod styles;
pub mod train;
pub mod video;

use crate::cli::{Cli, Command};
use crate::error::Result;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Video(args) => video::run(args),
        Command::Image(args) => image::run(args),
        Command::Styles(args) => styles::run(args),
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
    }
}
