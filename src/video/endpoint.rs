//! Where a video comes from and where it goes, in the ffmpeg command line's terms: a file,
//! `-` or `pipe:` (stdin for an input, stdout for an output), a URL, or a picture sequence
//! named by a printf pattern (`frames/%05d.png`); and opening them with FFmpeg, with a
//! forced format and demuxer options where the user gives them.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    File(PathBuf),
    /// stdin or stdout, by direction.
    Pipe,
    /// Anything with a scheme (`http://`, `udp://`, `rtmp://`, `file:...`): FFmpeg's
    /// protocols handle it.
    Url(String),
    /// A picture sequence: the file name holds `%d` or `%0Nd`.
    Sequence(PathBuf),
}

impl Endpoint {
    pub fn parse(arg: &Path) -> Self {
        let Some(text) = arg.to_str() else {
            return Self::File(arg.to_path_buf());
        };
        if text == "-" || text == "pipe:" || text == "pipe:0" || text == "pipe:1" {
            return Self::Pipe;
        }
        if has_scheme(text) {
            return Self::Url(text.to_string());
        }
        if arg
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| SequencePattern::parse(n).is_some())
        {
            return Self::Sequence(arg.to_path_buf());
        }
        Self::File(arg.to_path_buf())
    }

    /// The name FFmpeg opens.
    pub fn url(&self, output: bool) -> String {
        match self {
            Self::File(p) | Self::Sequence(p) => p.to_string_lossy().into_owned(),
            Self::Pipe if output => "pipe:1".to_string(),
            Self::Pipe => "pipe:0".to_string(),
            Self::Url(u) => u.clone(),
        }
    }

    /// How messages name it.
    pub fn display(&self, output: bool) -> PathBuf {
        match self {
            Self::File(p) | Self::Sequence(p) => p.clone(),
            Self::Pipe if output => PathBuf::from("stdout"),
            Self::Pipe => PathBuf::from("stdin"),
            Self::Url(u) => PathBuf::from(u),
        }
    }
}

/// `scheme:` or `scheme://` as FFmpeg's protocols take them; a one-letter "scheme" is a
/// Windows drive, and `pipe:` is handled apart.
fn has_scheme(text: &str) -> bool {
    if text.contains("://") {
        return true;
    }
    match text.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && [
                    "file", "http", "https", "rtmp", "rtsp", "udp", "tcp", "srt", "data",
                ]
                .contains(&scheme)
        }
        None => false,
    }
}

/// The file name of a picture sequence: `prefix%0Nd suffix`, as FFmpeg's image2 reads and
/// writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencePattern {
    prefix: String,
    width: usize,
    suffix: String,
}

impl SequencePattern {
    pub fn parse(name: &str) -> Option<Self> {
        let mut prefix = String::new();
        let mut chars = name.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '%' {
                prefix.push(c);
                continue;
            }
            if chars.peek().map(|&(_, c)| c) == Some('%') {
                chars.next();
                prefix.push('%');
                continue;
            }
            let rest = &name[i + 1..];
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if rest[digits..].starts_with('d') {
                let width = rest[..digits].parse().unwrap_or(0);
                let suffix = rest[digits + 1..].replace("%%", "%");
                if suffix.contains('%') {
                    return None; // one number per name, as image2 takes it
                }
                return Some(Self {
                    prefix,
                    width,
                    suffix,
                });
            }
            return None;
        }
        None
    }

    pub fn matches(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .and_then(|n| n.strip_suffix(&self.suffix))
            .is_some_and(|digits| {
                !digits.is_empty()
                    && digits.len() >= self.width
                    && digits.bytes().all(|b| b.is_ascii_digit())
            })
    }

    /// The files of `pattern`'s folder that belong to the sequence, sorted.
    pub fn existing(pattern: &Path) -> Vec<PathBuf> {
        let Some(seq) = pattern
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Self::parse)
        else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = std::fs::read_dir(folder_of(pattern))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| seq.matches(n)))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }
}

/// The folder a path's file lies in ("." for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn cstring(s: &str, what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

fn ffmpeg_error(code: i32) -> String {
    ff::Error::from(code).to_string()
}

/// Why an input did not open: the user's settings, or the media itself.
#[derive(Debug)]
pub enum OpenFailure {
    Setting(String),
    Media(String),
}

/// Opens an input for demuxing: `format` forces the demuxer (ffmpeg's `-f` before `-i`),
/// `options` go to the demuxer and protocol; one that neither knows is an error, not
/// silently ignored.
pub fn open_input(
    url: &str,
    format: Option<&str>,
    options: &[(String, String)],
) -> Result<ff::format::context::Input, OpenFailure> {
    let url_c = cstring(url, "the input name").map_err(OpenFailure::Setting)?;
    let forced = match format {
        Some(name) => {
            let name_c = cstring(name, "the format").map_err(OpenFailure::Setting)?;
            let found = unsafe { ffi::av_find_input_format(name_c.as_ptr()) };
            if found.is_null() {
                return Err(OpenFailure::Setting(format!(
                    "FFmpeg has no input format named '{name}' (`ffmpeg -demuxers` lists them)"
                )));
            }
            found
        }
        None => ptr::null(),
    };
    let mut dict = ff::Dictionary::new();
    for (key, value) in options {
        dict.set(key, value);
    }
    unsafe {
        let mut ctx = ptr::null_mut();
        let mut opts = dict.disown();
        let opened = ffi::avformat_open_input(&mut ctx, url_c.as_ptr(), forced, &mut opts);
        let unused = ff::Dictionary::own(opts);
        if opened < 0 {
            return Err(OpenFailure::Media(ffmpeg_error(opened)));
        }
        let input = ff::format::context::Input::wrap(ctx);
        if let Some((key, _)) = unused.iter().next() {
            return Err(OpenFailure::Setting(format!(
                "--input-option {key}: neither the {} demuxer nor the protocol has this option",
                input.format().name()
            )));
        }
        let found = ffi::avformat_find_stream_info(ctx, ptr::null_mut());
        if found < 0 {
            return Err(OpenFailure::Media(ffmpeg_error(found)));
        }
        Ok(input)
    }
}

/// Allocates an output for muxing, its container named by `format` or guessed from the
/// name; opens the file or stream unless the muxer writes its own files (image2 writes
/// one file per picture, so opening the pattern itself would create a file named `%05d`).
pub fn open_output(url: &str, format: Option<&str>) -> Result<ff::format::context::Output, String> {
    let url_c = cstring(url, "the output name")?;
    let format_c = format.map(|f| cstring(f, "the format")).transpose()?;
    unsafe {
        let mut ctx = ptr::null_mut();
        let allocated = ffi::avformat_alloc_output_context2(
            &mut ctx,
            ptr::null(),
            format_c.as_ref().map_or(ptr::null(), |f| f.as_ptr()),
            url_c.as_ptr(),
        );
        if allocated < 0 || ctx.is_null() {
            return Err(match format {
                Some(f) => {
                    format!("FFmpeg has no output format named '{f}' (`ffmpeg -muxers` lists them)")
                }
                None => "its name does not tell the container; give -f FORMAT (e.g. -f mp4, -f matroska, -f nut)"
                    .to_string(),
            });
        }
        let output = ff::format::context::Output::wrap(ctx);
        if (*(*ctx).oformat).flags & ffi::AVFMT_NOFILE == 0 {
            let opened = ffi::avio_open2(
                &mut (*ctx).pb,
                url_c.as_ptr(),
                ffi::AVIO_FLAG_WRITE,
                ptr::null(),
                ptr::null_mut(),
            );
            if opened < 0 {
                return Err(ffmpeg_error(opened));
            }
        }
        Ok(output)
    }
}

/// The video encoder a container gets when the user names none: libx264 where the
/// container holds H.264 (mp4, mkv, mov, nut, mpegts, flv), else the container's own
/// choice for this name (png for `.png` pictures, VP9 for webm).
pub fn default_encoder(output: &ff::format::context::Output, url: &str) -> Option<String> {
    unsafe {
        let format = (*output.as_ptr()).oformat;
        let name = CStr::from_ptr((*format).name).to_string_lossy();
        let pictures = name.starts_with("image2");
        // 1: it holds H.264; negative: it cannot tell (mpegts), and H.264 is the usual
        // choice; 0: it cannot hold it (webm).
        if !pictures
            && ffi::avformat_query_codec(format, ffi::AVCodecID::AV_CODEC_ID_H264, 0) != 0
            && !ffi::avcodec_find_encoder_by_name(c"libx264".as_ptr()).is_null()
        {
            return Some("libx264".to_string());
        }
        let url_c = CString::new(url).ok()?;
        let id = ffi::av_guess_codec(
            format,
            ptr::null(),
            url_c.as_ptr(),
            ptr::null(),
            ffi::AVMediaType::AVMEDIA_TYPE_VIDEO,
        );
        let encoder = ffi::avcodec_find_encoder(id);
        (!encoder.is_null()).then(|| {
            CStr::from_ptr((*encoder).name)
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// Whether a muxer needs to be told it writes to something it cannot seek back in.
pub fn streaming_options(output: &ff::format::context::Output) -> ff::Dictionary<'static> {
    let mut options = ff::Dictionary::new();
    let name = output.format().name().to_string();
    // MP4 and MOV write their index at the end by seeking back; fragmented, they stream.
    if ["mp4", "mov", "ismv", "ipod"].contains(&name.as_str()) {
        options.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_ffmpeg() {
        assert_eq!(Endpoint::parse(Path::new("-")), Endpoint::Pipe);
        assert_eq!(Endpoint::parse(Path::new("pipe:")), Endpoint::Pipe);
        assert_eq!(
            Endpoint::parse(Path::new("udp://127.0.0.1:1234")),
            Endpoint::Url("udp://127.0.0.1:1234".into())
        );
        assert_eq!(
            Endpoint::parse(Path::new("file:in.mp4")),
            Endpoint::Url("file:in.mp4".into())
        );
        assert_eq!(
            Endpoint::parse(Path::new("out/%05d.png")),
            Endpoint::Sequence("out/%05d.png".into())
        );
        assert_eq!(
            Endpoint::parse(Path::new("100%%.mp4")),
            Endpoint::File("100%%.mp4".into())
        );
        assert_eq!(
            Endpoint::parse(Path::new("C:clip.mp4")),
            Endpoint::File("C:clip.mp4".into())
        );
        assert_eq!(
            Endpoint::parse(Path::new("a:b/clip.mp4")),
            Endpoint::File("a:b/clip.mp4".into())
        );
    }

    #[test]
    fn sequence_patterns_match_their_files() {
        let p = SequencePattern::parse("frame-%04d.png").unwrap();
        assert!(p.matches("frame-0001.png"));
        assert!(p.matches("frame-12345.png"));
        assert!(!p.matches("frame-001.png"));
        assert!(!p.matches("frame-00a1.png"));
        assert!(!p.matches("frame-0001.jpg"));
        let q = SequencePattern::parse("%d.jpg").unwrap();
        assert!(q.matches("7.jpg") && !q.matches(".jpg"));
        assert_eq!(SequencePattern::parse("plain.png"), None);
        assert_eq!(SequencePattern::parse("%s.png"), None);
        assert_eq!(SequencePattern::parse("%d-%d.png"), None);
        let r = SequencePattern::parse("100%%-%03d.png").unwrap();
        assert!(r.matches("100%-007.png"));
    }
}
