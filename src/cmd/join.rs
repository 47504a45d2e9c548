//! `faststyle join`: a split run's chunks put together with the source's other streams.

use crate::cli::JoinArgs;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::progress::format_duration;
use crate::video::chunk::FrameIndex;
use crate::video::destination::Destination;
use crate::video::endpoint::Endpoint;
use crate::video::join;
use crate::video::source::Source;

pub fn run(args: JoinArgs) -> Result<()> {
    crate::video::init_ffmpeg();
    let started = std::time::Instant::now();
    let input = Endpoint::parse(&args.input);
    let Endpoint::File(input_path) = &input else {
        return Err(Error::Usage(
            "join needs the source video file the chunks were made from".to_string(),
        ));
    };
    if !args.chunks.is_dir() {
        return Err(Error::Input {
            path: args.chunks.clone(),
            detail: "is not a folder of chunks".to_string(),
        });
    }
    let output = args
        .output
        .as_ref()
        .or(args.output_arg.as_ref())
        .ok_or_else(|| Error::Usage("give -o OUTPUT for the joined video".to_string()))?;
    let destination = Destination::prepare(
        &Endpoint::parse(output),
        &input,
        args.format.as_deref(),
        args.overwrite,
    )?;
    let source = Source::open(&input, None, &[])?;
    let index = FrameIndex::scan(input_path)?;
    let manifests = join::check_chunks(&args.chunks, &index, input_path)?;
    interrupt::install();
    let report = join::join(
        source,
        &args.chunks,
        manifests,
        &destination,
        args.format.as_deref(),
    )?;
    let name = destination.name();
    destination.commit(args.overwrite)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "wrote {} ({} frames from {} chunks, {} copied packets, in {})",
        name.display(),
        report.frames,
        report.chunks,
        report.copied_packets,
        format_duration(started.elapsed().as_secs_f64())
    );
    Ok(())
}
