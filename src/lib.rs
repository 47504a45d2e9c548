//! faststyle: fast neural style transfer for video and images.
//!
//! The library holds everything; `main.rs` only parses the command line and reports errors.

pub mod allocator;
pub mod catalog;
pub mod cli;
pub mod cmd;
pub mod device;
pub mod error;
pub mod fsutil;
pub mod interrupt;
pub mod kernels;
#[cfg(feature = "video")]
pub mod live;
pub mod loss;
pub mod model;
pub mod optimize;
pub mod picture;
pub mod progress;
pub mod stylize;
pub mod temporal;
pub mod train;
pub mod video;
pub mod yuv;

pub use error::{Error, Result};
