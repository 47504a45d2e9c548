use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    faststyle::allocator::keep_freed_buffers();
    let cli = faststyle::cli::Cli::parse();
    match faststyle::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(faststyle::Error::Interrupted) => {
            eprintln!("error: {}", faststyle::Error::Interrupted);
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
