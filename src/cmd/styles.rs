//! `faststyle styles`: what is installed.

use crate::catalog;
use crate::cli::StylesArgs;
use crate::error::{Error, Result};

pub fn run(args: StylesArgs) -> Result<()> {
    let (entries, broken) = catalog::list();
    for err in &broken {
        eprintln!("warning: skipped {err}");
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&entries).map_err(|e| Error::Usage(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if entries.is_empty() {
        let dirs: Vec<String> = catalog::style_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        println!("No styles installed. Looked in: {}", dirs.join(", "));
        return Ok(());
    }
    println!(
        "{:<20} {:<40} {:<32} {:>8}",
        "NAME", "PAINTING", "ARCHITECTURE", "SIZE"
    );
    for e in &entries {
        let painting = match (
            e.meta.painting_title.as_str(),
            e.meta.painting_author.as_str(),
        ) {
            ("", "") => "-".to_string(),
            (t, "") => t.to_string(),
            ("", a) => a.to_string(),
            (t, a) => format!("{t} ({a})"),
        };
        println!(
            "{:<20} {:<40} {:<32} {:>7.1}M",
            e.name,
            painting,
            e.config.describe(),
            e.size_bytes as f64 / 1e6
        );
    }
    Ok(())
}
