//! Learning a style: a painting, a folder of photos, VGG19 perceptual losses, Adam.

pub mod checkpoint;
pub mod dataset;
pub mod objective;
pub mod preview;
pub mod trainer;

pub use objective::{LossSpec, Objective};
pub use trainer::{TrainReport, TrainSettings, train, train_step};
