//! Where `faststyle video` writes, and how a finished output becomes visible: a file is
//! written beside its final name and renamed into place; a picture sequence is written
//! into a hidden folder beside its pictures and moved in when complete; stdout and network
//! streams are written as they go (a failure leaves a partial stream, and the user is told).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::endpoint::{Endpoint, SequencePattern, folder_of};
use crate::error::{Error, Result};
use crate::fsutil;

pub enum Destination {
    File {
        output: PathBuf,
        temp: tempfile::NamedTempFile,
    },
    Sequence {
        pattern: PathBuf,
        temp: tempfile::TempDir,
    },
    Stream(Endpoint),
}

impl Destination {
    /// Checks that `output` can be written (it does not exist unless `overwrite`, it is
    /// not the input, the container can be told) and sets up its temporary place.
    pub fn prepare(
        output: &Endpoint,
        input: &Endpoint,
        format: Option<&str>,
        overwrite: bool,
    ) -> Result<Self> {
        let output_error = |path: &Path, detail: &str| Error::Output {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        match output {
            // A device (a v4l2loopback camera) is written directly, as a stream.
            Endpoint::File(path) if path.starts_with("/dev") => Ok(Self::Stream(output.clone())),
            Endpoint::File(path) => {
                if let Endpoint::File(input) = input
                    && fsutil::same_file(input, path)
                {
                    return Err(Error::Usage(format!(
                        "{} is both input and output; choose another output",
                        input.display()
                    )));
                }
                if path.is_dir() {
                    return Err(output_error(path, "is a folder; give a file name"));
                }
                if !overwrite && path.exists() {
                    return Err(Error::OutputExists { path: path.clone() });
                }
                if path.extension().is_none() && format.is_none() {
                    return Err(output_error(
                        path,
                        "has no extension to pick the container by (use .mp4, .mkv or .mov, or give -f FORMAT)",
                    ));
                }
                let temp = fsutil::temp_beside(path, true).map_err(|e| Error::Output {
                    path: path.clone(),
                    detail: fsutil::describe_io(&e),
                })?;
                Ok(Self::File {
                    output: path.clone(),
                    temp,
                })
            }
            Endpoint::Sequence(pattern) => {
                let folder = folder_of(pattern);
                if !folder.is_dir() {
                    return Err(output_error(
                        pattern,
                        &format!("the folder {} does not exist", folder.display()),
                    ));
                }
                if !overwrite && let Some(first) = SequencePattern::existing(pattern).first() {
                    return Err(Error::OutputExists {
                        path: first.clone(),
                    });
                }
                let temp = tempfile::Builder::new()
                    .prefix(".faststyle-frames.")
                    .tempdir_in(folder)
                    .map_err(|e| Error::Output {
                        path: pattern.clone(),
                        detail: fsutil::describe_io(&e),
                    })?;
                Ok(Self::Sequence {
                    pattern: pattern.clone(),
                    temp,
                })
            }
            Endpoint::Pipe => {
                if format.is_none() {
                    return Err(Error::Usage(
                        "writing to stdout needs -f FORMAT to name the container (e.g. -f nut, -f matroska, -f mpegts)"
                            .to_string(),
                    ));
                }
                if std::io::stdout().is_terminal() {
                    return Err(Error::Usage(
                        "stdout is a terminal; pipe it into a program or a file, or give -o FILE"
                            .to_string(),
                    ));
                }
                Ok(Self::Stream(Endpoint::Pipe))
            }
            Endpoint::Url(_) => Ok(Self::Stream(output.clone())),
        }
    }

    /// The name FFmpeg writes to.
    pub fn url(&self) -> String {
        match self {
            Self::File { temp, .. } => temp.path().to_string_lossy().into_owned(),
            Self::Sequence { pattern, temp } => temp
                .path()
                .join(pattern.file_name().expect("a pattern has a file name"))
                .to_string_lossy()
                .into_owned(),
            Self::Stream(endpoint) => endpoint.url(true),
        }
    }

    /// What messages call it.
    pub fn name(&self) -> PathBuf {
        match self {
            Self::File { output, .. } => output.clone(),
            Self::Sequence { pattern, .. } => pattern.clone(),
            Self::Stream(endpoint) => endpoint.display(true),
        }
    }

    /// Written as it goes, with no way back: a failure leaves what was sent.
    pub fn streaming(&self) -> bool {
        matches!(self, Self::Stream(_))
    }

    /// Makes the finished output visible under its name.
    pub fn commit(self, overwrite: bool) -> Result<()> {
        match self {
            Self::File { output, temp } => {
                let persisted = if overwrite {
                    temp.persist(&output)
                } else {
                    temp.persist_noclobber(&output)
                };
                persisted.map(|_| ()).map_err(|e| match e.error.kind() {
                    std::io::ErrorKind::AlreadyExists => Error::OutputExists { path: output },
                    _ => Error::Output {
                        path: output,
                        detail: fsutil::describe_io(&e.error),
                    },
                })
            }
            Self::Sequence { pattern, temp } => commit_sequence(&pattern, temp.path(), overwrite),
            Self::Stream(_) => Ok(()),
        }
    }
}

/// Moves the new pictures in. With `overwrite`, pictures of an earlier, longer sequence
/// under the same pattern are removed, so the folder holds exactly this one.
fn commit_sequence(pattern: &Path, written: &Path, overwrite: bool) -> Result<()> {
    let folder = folder_of(pattern);
    let io_error = |path: &Path, e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        detail: fsutil::describe_io(&e),
    };
    let earlier = SequencePattern::existing(pattern);
    if !overwrite && let Some(first) = earlier.first() {
        return Err(Error::OutputExists {
            path: first.clone(),
        });
    }
    let mut names: Vec<_> = std::fs::read_dir(written)
        .map_err(|e| io_error(written, e))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in &names {
        let target = folder.join(name);
        std::fs::rename(written.join(name), &target).map_err(|e| io_error(&target, e))?;
    }
    for old in earlier {
        if old
            .file_name()
            .is_some_and(|n| !names.iter().any(|m| m == n))
        {
            std::fs::remove_file(&old).map_err(|e| io_error(&old, e))?;
        }
    }
    Ok(())
}
