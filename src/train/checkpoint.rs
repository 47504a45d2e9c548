//! Checkpoints: the network and the optimizer state (burn records, full precision, which
//! keep parameter ids so Adam's moments stay attached to their parameters), and the step
//! and settings as JSON. The data order is a function of (seed, step), so the step is the
//! whole random state of the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::trainer::TrainSettings;

pub const MODEL_FILE: &str = "model.bin";
pub const OPTIMIZER_FILE: &str = "optimizer.bin";
pub const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps completed.
    pub step: u64,
    pub settings: TrainSettings,
    /// Loss terms of the last completed step.
    pub losses: Losses,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
    #[serde(default)]
    pub stability: f64,
    #[serde(default)]
    pub peaks: f64,
}

/// The checkpoint folder inside a run's work folder.
pub fn dir(work: &Path) -> PathBuf {
    work.join("checkpoint")
}

pub fn read_state(work: &Path) -> Option<CheckpointState> {
    let text = std::fs::read_to_string(dir(work).join(STATE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}
