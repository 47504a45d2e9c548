//! Three stages, each on its own thread, joined by bounded channels:
//!
//!   demux + decode ──frames──▶ stylize (batches) ──frames──▶ encode + mux
//!          └──────────── copied packets (audio, subtitles, data) ─────▶┘
//!
//! The stylize stage has one worker per device, each pulling batches from the same
//! queue; frames carry their decode order, and a reorder buffer in front of the encoder
//! lets them leave in that order.
//!
//! Memory is bounded by the queue lengths whatever the video's length, and the slowest
//! stage sets the pace. A stage that fails raises the shared stop flag; the others notice
//! within one queue timeout and wind down, and the first real error is reported.

use crate::kernels::Kernels;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use ff::{Packet, Rational};
use ffmpeg_next as ff;

use super::frame_form::{self, Exporter, Importer, Picture};
use super::sink::Sink;
use super::source::Source;
use crate::error::Error;
use crate::interrupt;
use crate::progress::Progress;
use crate::stylize::Stylizer;
use crate::yuv::YuvModel;

const POLL: Duration = Duration::from_millis(50);

/// What the user asked of the run, beyond the network.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub batch: usize,
    pub width: u32,
    pub height: u32,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    /// Exactly the frames whose timestamps (in the video stream's time base) lie in
    /// `[first, end)`, with the source's own timestamps: a chunk of a split run.
    pub frames: Option<FrameRange>,
    /// Frames travel as 8-bit 4:2:0 planes and the device converts them (GPUs), rather
    /// than as f32 RGB converted by swscale on the CPU.
    pub yuv_frames: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct FrameRange {
    /// The range begins with the stream's first frame: decode from the start.
    pub from_start: bool,
    pub first_pts: i64,
    /// None: to the end of the stream.
    pub end_pts: Option<i64>,
    pub count: u64,
}

/// Throughput of one stage.
#[derive(Debug, Clone, Default)]
pub struct StageReport {
    pub frames: u64,
    pub elapsed: Duration,
    pub waited_for_input: Duration,
    pub waited_for_output: Duration,
}

impl StageReport {
    pub fn busy(&self) -> Duration {
        self.elapsed
            .saturating_sub(self.waited_for_input)
            .saturating_sub(self.waited_for_output)
    }
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.busy().as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub decode: StageReport,
    /// All workers together: their frames, over their mean busy time.
    pub stylize: StageReport,
    /// Each device's worker, by device name (one entry for a single device).
    pub workers: Vec<(String, StageReport)>,
    pub encode: StageReport,
    pub wall: Duration,
    pub frames_written: u64,
    pub copied_packets: u64,
    pub warnings: Vec<String>,
}

struct DecodedFrame {
    /// Decode order, from 0: what the reorder buffer sorts by.
    seq: u64,
    pts: Option<i64>,
    image: Picture,
}

struct CopiedPacket {
    copy: usize,
    packet: Packet,
}

/// Why a stage ended early: its own error, or because another stage stopped.
enum StageError {
    Failed(Error),
    Stopped,
}

impl From<Error> for StageError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

type StageResult<T> = Result<T, StageError>;

/// Shared between stages: the stop flag and the count of frames encoded.
struct Shared {
    stop: AtomicBool,
    encoded: AtomicU64,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || interrupt::interrupted()
    }
}

/// Sends, waiting while the queue is full, unless the pipeline is stopping.
fn send<T>(tx: &Sender<T>, mut item: T, shared: &Shared, waited: &mut Duration) -> StageResult<()> {
    let start = Instant::now();
    let result = loop {
        if shared.stopping() {
            break Err(StageError::Stopped);
        }
        match tx.send_timeout(item, POLL) {
            Ok(()) => break Ok(()),
            Err(SendTimeoutError::Timeout(back)) => item = back,
            Err(SendTimeoutError::Disconnected(_)) => break Err(StageError::Stopped),
        }
    };
    *waited += start.elapsed();
    result
}

/// Receives; `Ok(None)` when the sender has finished.
fn recv<T>(rx: &Receiver<T>, shared: &Shared, waited: &mut Duration) -> StageResult<Option<T>> {
    let start = Instant::now();
    let result = loop {
        if shared.stopping() {
            break Err(StageError::Stopped);
        }
        match rx.recv_timeout(POLL) {
            Ok(item) => break Ok(Some(item)),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break Ok(None),
        }
    };
    *waited += start.elapsed();
    result
}

/// Runs the whole pipeline. On success the output (the sink's file) is complete.
pub fn run<B: Kernels>(
    source: Source,
    sink: Sink,
    workers: Vec<(String, Stylizer<B>)>,
    config: &PipelineConfig,
) -> Result<Report, Error> {
    let shared = Shared {
        stop: AtomicBool::new(false),
        encoded: AtomicU64::new(0),
    };
    let batch = config.batch.max(1);
    let queue = (2 * batch + 2) * workers.len();
    let (frames_tx, frames_rx) = channel::bounded::<DecodedFrame>(queue);
    let (styled_tx, styled_rx) = channel::bounded::<DecodedFrame>(queue);
    let (copy_tx, copy_rx) = channel::bounded::<CopiedPacket>(512);
    let out_model = sink.color.yuv_model();
    let total = expected_frames(&source, config);
    let started = Instant::now();
    // Input stream index → (copy index, input time base), looked up for every packet.
    let copy_map: Vec<Option<(usize, Rational)>> = {
        let mut map = vec![None; source.input.nb_streams() as usize];
        for (i, c) in sink.copies.iter().enumerate() {
            map[c.input_index] = Some((i, c.input_time_base));
        }
        map
    };

    let (decoded, stylized, encoded) = std::thread::scope(|s| {
        let shared = &shared;
        let decode = s.spawn(move || {
            let r = decode_stage(source, config, &copy_map, frames_tx, copy_tx, shared);
            if matches!(r, Err(StageError::Failed(_))) {
                shared.stop.store(true, Ordering::SeqCst);
            }
            r
        });
        let stylize: Vec<_> = workers
            .into_iter()
            .map(|(name, stylizer)| {
                let (rx, tx) = (frames_rx.clone(), styled_tx.clone());
                let handle = s.spawn(move || {
                    let r = stylize_stage(stylizer, batch, out_model, rx, tx, shared);
                    if matches!(r, Err(StageError::Failed(_))) {
                        shared.stop.store(true, Ordering::SeqCst);
                    }
                    r
                });
                (name, handle)
            })
            .collect();
        // The workers hold the only other ends: the encoder sees the end when all finish.
        drop((frames_rx, styled_tx));
        let encode = s.spawn(move || {
            let r = encode_stage(sink, styled_rx, copy_rx, shared);
            if matches!(r, Err(StageError::Failed(_))) {
                shared.stop.store(true, Ordering::SeqCst);
            }
            r
        });
        let mut progress = Progress::new(total, "frames");
        while !(decode.is_finished()
            && stylize.iter().all(|(_, h)| h.is_finished())
            && encode.is_finished())
        {
            progress.update(shared.encoded.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
        progress.update(shared.encoded.load(Ordering::Relaxed));
        progress.finish();
        let stylized: Vec<_> = stylize
            .into_iter()
            .map(|(name, handle)| (name, join(handle)))
            .collect();
        (join(decode), stylized, join(encode))
    });

    // The first stage that failed on its own names the cause; the others merely stopped.
    let decoded = failed_first(decoded)?;
    let stylized = stylized
        .into_iter()
        .map(|(name, r)| failed_first(r).map(|r| (name, r)))
        .collect::<Result<Vec<_>, Error>>()?;
    let encoded = failed_first(encoded)?;
    if interrupt::interrupted() {
        return Err(Error::Interrupted);
    }
    let mut report = Report::default();
    let (decode, decode_warnings) = ok_or_stopped(decoded)?;
    report.decode = decode;
    report.warnings = decode_warnings;
    for (name, r) in stylized {
        report.workers.push((name, ok_or_stopped(r)?));
    }
    report.stylize = combined(&report.workers);
    let (encode, copied, encode_warnings) = ok_or_stopped(encoded)?;
    report.encode = encode;
    report.copied_packets = copied;
    report.warnings.extend(encode_warnings);
    report.frames_written = report.encode.frames;
    report.wall = started.elapsed();
    Ok(report)
}

/// The workers as one stage: all their frames over their mean busy time (their fps
/// summed, when they are equally busy).
fn combined(workers: &[(String, StageReport)]) -> StageReport {
    let n = workers.len().max(1) as u32;
    let sum = |f: fn(&StageReport) -> Duration| workers.iter().map(|(_, r)| f(r)).sum::<Duration>();
    StageReport {
        frames: workers.iter().map(|(_, r)| r.frames).sum(),
        elapsed: sum(|r| r.elapsed) / n,
        waited_for_input: sum(|r| r.waited_for_input) / n,
        waited_for_output: sum(|r| r.waited_for_output) / n,
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, StageResult<T>>) -> StageResult<T> {
    handle.join().unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown cause".to_string());
        Err(StageError::Failed(Error::Internal(format!(
            "a pipeline stage crashed: {what}"
        ))))
    })
}

fn ok_or_stopped<T>(r: StageResult<T>) -> Result<T, Error> {
    match r {
        Ok(v) => Ok(v),
        Err(StageError::Failed(e)) => Err(e),
        Err(StageError::Stopped) if interrupt::interrupted() => Err(Error::Interrupted),
        Err(StageError::Stopped) => Err(Error::Internal(
            "the pipeline stopped without a cause".to_string(),
        )),
    }
}

/// Returns a stage's own error at once; keeps results and "stopped" for later.
fn failed_first<T>(r: StageResult<T>) -> Result<StageResult<T>, Error> {
    match r {
        Err(StageError::Failed(e)) => Err(e),
        other => Ok(other),
    }
}

fn expected_frames(source: &Source, config: &PipelineConfig) -> Option<u64> {
    if let Some(range) = config.frames {
        return Some(range.count);
    }
    let fps = f64::from(source.frame_rate);
    let total = source.frames_estimate?;
    let start = config.start.unwrap_or(0.0);
    let from_start = (total as f64 - start * fps).max(0.0);
    let limited = match config.duration {
        Some(d) => from_start.min(d * fps),
        None => from_start,
    };
    Some(limited.round() as u64)
}

/// Seconds → ticks of `tb`.
fn ticks(seconds: f64, tb: Rational) -> i64 {
    (seconds * f64::from(tb.denominator()) / f64::from(tb.numerator())).round() as i64
}

fn decode_stage(
    mut source: Source,
    config: &PipelineConfig,
    copy_map: &[Option<(usize, Rational)>],
    frames_tx: Sender<DecodedFrame>,
    copy_tx: Sender<CopiedPacket>,
    shared: &Shared,
) -> StageResult<(StageReport, Vec<String>)> {
    let started = Instant::now();
    let mut report = StageReport::default();
    let mut warnings = Vec::new();
    let path = source.path.clone();
    let input_error = |detail: String| Error::Input {
        path: path.clone(),
        detail,
    };
    let video_tb = source.time_base;
    let params = source
        .input
        .stream(source.video_index)
        .expect("video stream")
        .parameters();
    let mut ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(|e| input_error(format!("cannot set up the video decoder: {e}")))?;
    ctx.set_threading(ff::codec::threading::Config::kind(
        ff::codec::threading::Type::Frame,
    ));
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = video_tb.into();
    }
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| input_error(format!("cannot open the video decoder: {e}")))?;
    let mut importer = Importer::new(config.yuv_frames, config.width, config.height);

    let start_s = config.start.unwrap_or(0.0);
    let end_s = config.duration.map(|d| start_s + d);
    if start_s > 0.0 {
        let target = (start_s * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        // stdin and live streams cannot seek: they are decoded from where they are
        // instead; the frames before the start are dropped by their timestamps either way.
        if source.seekable()
            && let Err(e) = source.input.seek(target, ..target)
        {
            warnings.push(format!(
                "cannot seek in {} ({e}); decoding from the beginning to reach --start",
                path.display()
            ));
        }
    }
    if let Some(range) = config.frames.filter(|r| !r.from_start) {
        seek_before(&mut source, range.first_pts)?;
    }
    let shift = config.start.is_some();
    // Timestamps are shifted so that the cut starts at 0 in every stream alike.
    let cutting = config.start.is_some() || config.duration.is_some();
    let in_range = |ts: Option<i64>, tb: Rational| -> bool {
        let Some(ts) = ts.filter(|_| cutting) else {
            return true;
        };
        let t = ts as f64 * f64::from(tb);
        // Without --start nothing is cut at the front: priming packets and frames before
        // zero belong to the stream.
        (config.start.is_none() || t + 1e-9 >= start_s) && end_s.is_none_or(|e| t < e - 1e-9)
    };
    let video_start = ticks(start_s, video_tb);
    let mut damaged = 0u64;
    let mut read_error = None;
    let mut past_end = false;
    let mut frame = ff::frame::Video::empty();
    let mut packet = Packet::empty();
    let mut copy_wait = Duration::ZERO;

    let mut deliver = |decoder: &mut ff::decoder::Video,
                       report: &mut StageReport,
                       past_end: &mut bool|
     -> StageResult<()> {
        while decoder.receive_frame(&mut frame).is_ok() {
            let pts = frame.timestamp();
            if let Some(range) = config.frames {
                let Some(p) = pts else {
                    return Err(StageError::Failed(input_error(
                        "a decoded frame has no timestamp, so the chunk's range cannot be cut exactly".to_string(),
                    )));
                };
                if range.end_pts.is_some_and(|e| p >= e) {
                    *past_end = true;
                    continue;
                }
                if p < range.first_pts {
                    continue;
                }
            }
            if !in_range(pts, video_tb) {
                if let (Some(p), Some(e)) = (pts, end_s)
                    && p as f64 * f64::from(video_tb) >= e - 1e-9
                {
                    *past_end = true;
                }
                continue;
            }
            let image = importer
                .convert(&frame)
                .map_err(|e| input_error(format!("cannot convert a video frame: {e}")))?;
            let pts = if shift {
                pts.map(|p| p - video_start)
            } else {
                pts
            };
            report.frames += 1;
            send(
                &frames_tx,
                DecodedFrame {
                    seq: report.frames - 1,
                    pts,
                    image,
                },
                shared,
                &mut report.waited_for_output,
            )?;
        }
        Ok(())
    };

    loop {
        if shared.stopping() {
            return Err(StageError::Stopped);
        }
        match packet.read(&mut source.input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => {
                // A damaged or cut-off file: keep what decoded so far, as ffmpeg does.
                read_error = Some(e);
                break;
            }
        }
        let index = packet.stream();
        if index == source.video_index {
            if let Err(e) = decoder.send_packet(&packet) {
                damaged += 1;
                if damaged == 1 {
                    warnings.push(format!(
                        "{}: damaged video data skipped ({e})",
                        path.display()
                    ));
                }
            }
            deliver(&mut decoder, &mut report, &mut past_end)?;
            if past_end {
                break;
            }
        } else if let Some((copy, tb)) = copy_map.get(index).copied().flatten() {
            if !in_range(packet.pts().or(packet.dts()), tb) {
                continue;
            }
            let mut p = packet.clone();
            if shift {
                let offset = ticks(start_s, tb);
                p.set_pts(p.pts().map(|t| t - offset));
                p.set_dts(p.dts().map(|t| t - offset));
            }
            send(
                &copy_tx,
                CopiedPacket { copy, packet: p },
                shared,
                &mut copy_wait,
            )?;
        }
    }
    let _ = decoder.send_eof();
    deliver(&mut decoder, &mut report, &mut past_end)?;

    if damaged > 1 {
        warnings.push(format!(
            "{}: {damaged} damaged video packets skipped in all",
            path.display()
        ));
    }
    if let Some(e) = read_error {
        warnings.push(format!(
            "{}: reading stopped early ({e}); the output has the {} frames decoded before that",
            path.display(),
            report.frames
        ));
    }
    if report.frames == 0 {
        return Err(StageError::Failed(input_error(if config.start.is_some() {
            "no video frames in the requested time range".to_string()
        } else {
            "no video frame could be decoded".to_string()
        })));
    }
    report.elapsed = started.elapsed();
    report.waited_for_output += copy_wait;
    Ok((report, warnings))
}

/// Seeks to a keyframe at or before `pts` (video time base), so that decoding from there
/// yields every frame from `pts` on (open GOPs and B-frames need what precedes their first
/// frame; the frames before it are decoded and dropped). Some demuxers (MPEG-TS) land
/// after the target: the first keyframe found is checked, and the seek is retried further
/// back until it is not past the target.
fn seek_before(source: &mut Source, pts: i64) -> StageResult<()> {
    let tb = source.time_base;
    let seconds = pts as f64 * f64::from(tb);
    let fail = |e: ff::Error| {
        StageError::Failed(Error::Input {
            path: source.path.clone(),
            detail: format!("cannot seek to the chunk's start: {e}"),
        })
    };
    let mut margin = 0.0;
    loop {
        let target = ((seconds - margin) * f64::from(ff::ffi::AV_TIME_BASE)).floor() as i64 - 1;
        if margin > 3600.0 || source.input.seek(target, ..target).is_err() {
            return source.input.seek(i64::MIN, ..).map_err(fail);
        }
        let mut packet = Packet::empty();
        let landed = loop {
            match packet.read(&mut source.input) {
                Ok(()) if packet.stream() == source.video_index && packet.is_key() => {
                    break packet.pts();
                }
                Ok(()) => {}
                Err(_) => break None,
            }
        };
        if landed.is_some_and(|p| p <= pts) {
            // The same seek again, to decode from where it lands.
            return source.input.seek(target, ..target).map_err(fail);
        }
        margin = if margin == 0.0 { 1.0 } else { margin * 2.0 };
    }
}

fn stylize_stage<B: Kernels>(
    stylizer: Stylizer<B>,
    batch: usize,
    out_model: YuvModel,
    rx: Receiver<DecodedFrame>,
    tx: Sender<DecodedFrame>,
    shared: &Shared,
) -> StageResult<StageReport> {
    let started = Instant::now();
    let mut report = StageReport::default();
    let mut pending: Vec<DecodedFrame> = Vec::with_capacity(batch);
    let mut finished = false;
    while !finished {
        // Fill a batch; the last one may be short (never padded with made-up frames).
        while pending.len() < batch {
            match recv(&rx, shared, &mut report.waited_for_input)? {
                Some(f) => pending.push(f),
                None => {
                    finished = true;
                    break;
                }
            }
        }
        if pending.is_empty() {
            break;
        }
        let (order, images): (Vec<_>, Vec<_>) =
            pending.drain(..).map(|f| ((f.seq, f.pts), f.image)).unzip();
        let styled = frame_form::stylize(&stylizer, images, out_model);
        report.frames += styled.len() as u64;
        for ((seq, pts), image) in order.into_iter().zip(styled) {
            send(
                &tx,
                DecodedFrame { seq, pts, image },
                shared,
                &mut report.waited_for_output,
            )?;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn encode_stage(
    mut sink: Sink,
    styled_rx: Receiver<DecodedFrame>,
    copy_rx: Receiver<CopiedPacket>,
    shared: &Shared,
) -> StageResult<(StageReport, u64, Vec<String>)> {
    let started = Instant::now();
    let mut report = StageReport::default();
    let mut warnings = Vec::new();
    let mut writer = FrameWriter {
        export: Exporter::new(sink.pixel_format, sink.color),
        frame_ticks: {
            let tb = sink.encoder_time_base;
            let fps = sink_frame_rate(&sink);
            ((f64::from(tb.denominator()) / f64::from(tb.numerator())) / fps)
                .round()
                .max(1.0) as i64
        },
        last_pts: None,
        fixed_pts: 0,
    };
    let mut reorder = std::collections::BTreeMap::<u64, DecodedFrame>::new();
    let mut next_seq = 0u64;
    let mut copied = 0u64;
    let never_frames = channel::never::<DecodedFrame>();
    let never_packets = channel::never::<CopiedPacket>();
    let mut frames_open = true;
    let mut packets_open = true;

    while frames_open || packets_open {
        if shared.stopping() {
            return Err(StageError::Stopped);
        }
        let frames = if frames_open {
            &styled_rx
        } else {
            &never_frames
        };
        let packets = if packets_open {
            &copy_rx
        } else {
            &never_packets
        };
        let wait = Instant::now();
        crossbeam::select! {
            recv(frames) -> msg => {
                report.waited_for_input += wait.elapsed();
                match msg {
                    Ok(frame) => {
                        // Workers finish out of order; frames leave in decode order.
                        reorder.insert(frame.seq, frame);
                        while let Some(frame) = reorder.remove(&next_seq) {
                            writer.write(&mut sink, frame)?;
                            next_seq += 1;
                            report.frames += 1;
                            shared.encoded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => frames_open = false,
                }
            }
            recv(packets) -> msg => {
                report.waited_for_input += wait.elapsed();
                match msg {
                    Ok(CopiedPacket { copy, packet }) => {
                        let target = sink.copies[copy];
                        sink.write_copied(&target, packet)?;
                        copied += 1;
                    }
                    Err(_) => packets_open = false,
                }
            }
            default(POLL) => {
                report.waited_for_input += wait.elapsed();
            }
        }
    }
    if shared.stopping() {
        return Err(StageError::Stopped);
    }
    if let Some(missing) = reorder.keys().next() {
        return Err(StageError::Failed(Error::Internal(format!(
            "frame {next_seq} never came back from the stylize workers (frame {missing} did)"
        ))));
    }
    sink.encode(None)?;
    sink.finish()?;
    if writer.fixed_pts > 0 {
        warnings.push(format!(
            "{} frames had missing or repeated timestamps and were given the next free one",
            writer.fixed_pts
        ));
    }
    report.elapsed = started.elapsed();
    Ok((report, copied, warnings))
}

/// Converts stylized frames for the encoder and sends them to it.
struct FrameWriter {
    export: Exporter,
    frame_ticks: i64,
    last_pts: Option<i64>,
    fixed_pts: u64,
}

impl FrameWriter {
    fn write(&mut self, sink: &mut Sink, frame: DecodedFrame) -> Result<(), Error> {
        // Encoders need strictly increasing timestamps; repair the rare input that
        // repeats or lacks one, and say so.
        let pts = match (frame.pts, self.last_pts) {
            (Some(p), Some(last)) if p <= last => {
                self.fixed_pts += 1;
                last + 1
            }
            (Some(p), _) => p,
            (None, Some(last)) => {
                self.fixed_pts += 1;
                last + self.frame_ticks
            }
            (None, None) => 0,
        };
        self.last_pts = Some(pts);
        let mut out = self
            .export
            .convert(&frame.image)
            .map_err(|e| Error::Output {
                path: sink.path.clone(),
                detail: format!("cannot convert a stylized frame: {e}"),
            })?;
        out.set_pts(Some(pts));
        out.set_kind(ff::picture::Type::None);
        sink.encode(Some(&out))
    }
}

fn sink_frame_rate(sink: &Sink) -> f64 {
    let r = sink.encoder.frame_rate();
    let fps = f64::from(r);
    if fps.is_finite() && fps > 0.0 {
        fps
    } else {
        25.0
    }
}
