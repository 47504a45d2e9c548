//! Where styles live and how a `--style` argument becomes a file: a name is looked up in
//! the styles directories, anything that looks like a path is taken as a file.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, StyleFileError};
use crate::model::file::EXTENSION;
use crate::model::{StyleFile, StyleMeta, TransformerConfig};

/// Environment variable with extra styles directories (searched first, `:`-separated).
pub const STYLES_ENV: &str = "FASTSTYLE_STYLES";

/// The style used when none is given.
pub const DEFAULT_STYLE: &str = "starry-night";

/// Styles directories in search order: `$FASTSTYLE_STYLES`, `styles/` beside the
/// executable (an installed copy), and the project's own `styles/`.
pub fn style_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(value) = std::env::var_os(STYLES_ENV) {
        dirs.extend(std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("styles"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("styles"));
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    dirs
}

/// A style found in a styles directory.
#[derive(Debug, Clone, Serialize)]
pub struct StyleEntry {
    pub name: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    pub config: TransformerConfig,
    pub parameters: usize,
    pub meta: StyleMeta,
}

/// Every style file in the styles directories (first directory wins on a name clash),
/// sorted by name, plus the files that could not be read.
pub fn list() -> (Vec<StyleEntry>, Vec<StyleFileError>) {
    let mut entries: Vec<StyleEntry> = Vec::new();
    let mut broken = Vec::new();
    for (name, path) in candidates() {
        if entries.iter().any(|e| e.name == name) {
            continue;
        }
        match StyleFile::peek(&path) {
            Ok((config, meta)) => entries.push(StyleEntry {
                name,
                size_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                parameters: config.parameter_count(),
                config,
                meta,
                path,
            }),
            Err(e) => broken.push(e),
        }
    }
    if !entries.iter().any(|e| e.name == DEFAULT_STYLE)
        && let Ok(file) = StyleFile::from_bytes(BUILT_IN, &built_in_path())
    {
        entries.push(StyleEntry {
            name: DEFAULT_STYLE.to_string(),
            path: built_in_path(),
            size_bytes: BUILT_IN.len() as u64,
            parameters: file.config.parameter_count(),
            config: file.config,
            meta: file.meta,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    (entries, broken)
}

/// (name, path) of every `*.safetensors` file in the styles directories, in search order.
fn candidates() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in style_dirs() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == EXTENSION))
            .collect();
        files.sort();
        for path in files {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                out.push((stem.to_string(), path));
            }
        }
    }
    out
}

/// The default style, built into the binary so that `faststyle video in.mp4` works with
/// nothing but the executable.
const BUILT_IN: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/styles/starry-night.safetensors"
));

/// What error messages call the built-in style.
fn built_in_path() -> PathBuf {
    PathBuf::from(format!("<built-in {DEFAULT_STYLE}>"))
}

/// Loads the style a `--style` argument names: a file, a style in the styles directories,
/// or, when none of those has it, the built-in default. Returns it with where it came from.
pub fn load(arg: &str) -> Result<(StyleFile, PathBuf), Error> {
    match resolve(arg) {
        Ok(path) => Ok((StyleFile::load(&path)?, path)),
        Err(Error::UnknownStyle { .. }) if arg == DEFAULT_STYLE => {
            let path = built_in_path();
            Ok((StyleFile::from_bytes(BUILT_IN, &path)?, path))
        }
        Err(e) => Err(e),
    }
}

/// Turns a `--style` argument into a style file path.
pub fn resolve(arg: &str) -> Result<PathBuf, Error> {
    let as_path = Path::new(arg);
    let looks_like_path = arg.contains(std::path::MAIN_SEPARATOR)
        || arg.contains('/')
        || as_path.extension().is_some()
        || as_path.is_file();
    if looks_like_path {
        if as_path.is_file() {
            return Ok(as_path.to_path_buf());
        }
        return Err(Error::Input {
            path: as_path.to_path_buf(),
            detail: "no such style file".to_string(),
        });
    }
    let all = candidates();
    if let Some((_, path)) = all.iter().find(|(name, _)| name == arg) {
        return Ok(path.clone());
    }
    let mut available: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
    available.sort();
    available.dedup();
    Err(Error::UnknownStyle {
        name: arg.to_string(),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_default_style_loads() {
        let file = StyleFile::from_bytes(BUILT_IN, &built_in_path()).unwrap();
        assert_eq!(file.meta.name, DEFAULT_STYLE);
        assert!(file.meta.steps > 0);
    }
}
