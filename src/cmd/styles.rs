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
    let mut rows = vec![[
        "NAME".to_string(),
        "PAINTING".to_string(),
        "STEPS".to_string(),
        "ARCHITECTURE".to_string(),
        "SIZE".to_string(),
    ]];
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
        rows.push([
            e.name.clone(),
            painting,
            e.meta.steps.to_string(),
            e.config.describe(),
            format!("{:.1}M", e.size_bytes as f64 / 1e6),
        ]);
    }
    // Columns as wide as their widest cell; numbers to the right.
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let w: Vec<usize> = (0..5).map(width).collect();
    for r in &rows {
        println!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:>w4$}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        );
    }
    Ok(())
}
