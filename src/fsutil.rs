//! Output files are written to a temporary file beside the target and renamed into place
//! only when complete, so a failed or interrupted run never leaves a half-written file
//! under the output name.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `path` through `write`. Without `overwrite`, an existing file is an
/// `AlreadyExists` error, checked before any work and again at the final rename.
pub fn write_atomically<F>(path: &Path, overwrite: bool, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
{
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file already exists",
        ));
    }
    let mut tmp = temp_beside(path, false)?;
    {
        let mut writer = BufWriter::new(tmp.as_file_mut());
        write(&mut writer)?;
        writer.flush()?;
    }
    tmp.as_file().sync_all()?;
    let result = if overwrite {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    result.map(|_| ()).map_err(|e| e.error)
}

/// A hidden temporary file in the target's directory (same file system, so the final
/// rename is atomic); removed automatically if dropped before being persisted. With
/// `keep_extension` its name ends in the target's extension, for writers (FFmpeg) that
/// pick a format by it.
pub fn temp_beside(path: &Path, keep_extension: bool) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = match path.extension() {
        Some(ext) if keep_extension => format!(".part.{}", ext.to_string_lossy()),
        _ => ".part".to_string(),
    };
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    // tempfile creates 0600 files; the result should be an ordinary file, readable by others
    // as with the usual umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir)
}

/// A short reason for an I/O error, without Rust's "(os error N)" noise.
pub fn describe_io(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Whether two paths name the same file (after resolving links and `..`; paths that do
/// not exist yet are compared as written).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
