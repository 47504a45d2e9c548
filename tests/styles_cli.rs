//! End-to-end tests of `faststyle styles`.

mod common;

use common::*;

#[test]
fn lists_styles_as_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    write_style(&dir.path().join("alpha.safetensors"), 0.5);
    write_style(&dir.path().join("beta.safetensors"), 0.25);
    std::fs::write(dir.path().join("broken.safetensors"), b"garbage").unwrap();

    let output = faststyle()
        .env("FASTSTYLE_STYLES", dir.path())
        .arg("styles")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("alpha") && stdout.contains("beta"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Test Pattern (faststyle tests)"),
        "{stdout}"
    );
    assert!(stdout.contains("width 0.5"), "{stdout}");
    // A header with the steps, and columns that line up under it.
    let header = stdout.lines().next().unwrap();
    assert!(header.contains("STEPS"), "{stdout}");
    for row in stdout.lines().filter(|l| l.contains("Test Pattern")) {
        assert_eq!(
            row.find("Test Pattern"),
            header.find("PAINTING"),
            "{stdout}"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.safetensors"),
        "broken file not reported: {stderr}"
    );

    let output = faststyle()
        .env("FASTSTYLE_STYLES", dir.path())
        .args(["styles", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ours: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .starts_with(dir.path().to_str().unwrap())
        })
        .collect();
    assert_eq!(ours.len(), 2);
    assert_eq!(ours[0]["name"], "alpha");
    assert_eq!(ours[0]["config"]["width"], 0.5);
    assert_eq!(ours[0]["meta"]["painting_title"], "Test Pattern");
    assert!(ours[0]["size_bytes"].as_u64().unwrap() > 10_000);
}
