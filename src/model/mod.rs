//! The style network, its building blocks and its file format.

pub mod config;
pub mod file;
pub mod layers;
pub mod params;
pub mod transformer;
pub mod vgg;

pub use config::TransformerConfig;
pub use file::{StyleFile, StyleMeta, WeightStorage};
pub use transformer::Transformer;
