//! Errors a user can see. Each says, in one sentence, which file and what went wrong.

use std::path::PathBuf;

use thiserror::Error;

/// Problems with a style model file.
#[derive(Debug, Error)]
pub enum StyleFileError {
    #[error("cannot read style file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write style file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("style file {} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not a faststyle style file: {detail}", path.display())]
    NotAStyleFile { path: PathBuf, detail: String },
    #[error("style file {} is truncated or damaged: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error(
        "style file {} has format version {found}, but this faststyle reads version {supported}{}",
        path.display(),
        if found > supported { "; upgrade faststyle to use it" } else { "" }
    )]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("style file {} is corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// Everything the command line can fail with.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    StyleFile(#[from] StyleFileError),
    #[error("unknown style '{name}'; {}", available_styles(.available))]
    UnknownStyle {
        name: String,
        available: Vec<String>,
    },
    #[error("{}: {detail}", path.display())]
    Input { path: PathBuf, detail: String },
    #[error("{} already exists; pass --overwrite (-y) to replace it", path.display())]
    OutputExists { path: PathBuf },
    #[error("cannot write {}: {detail}", path.display())]
    Output { path: PathBuf, detail: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Device(String),
    #[error("interrupted; no output was written")]
    Interrupted,
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{failed} of {total} inputs failed (see the messages above)")]
    SomeFailed { failed: usize, total: usize },
}

fn available_styles(available: &[String]) -> String {
    if available.is_empty() {
        "no styles are installed (looked in the styles/ directory and $FASTSTYLE_STYLES); pass a path to a style file instead".to_string()
    } else {
        format!("available styles: {}", available.join(", "))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
