//! Ctrl-C (and SIGTERM or SIGHUP, which batch systems and closed terminals send): the first
//! one asks long work to stop cleanly (temporary files removed, training checkpointed); a
//! second one exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the SIGINT handler (once per process; later calls do nothing).
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again; exiting now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted; stopping (press Ctrl-C again to exit at once)");
        });
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
