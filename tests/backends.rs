//! The CPU's host kernels compute what burn's own ops compute: the whole network, run by
//! the real binary with and without `FASTSTYLE_REFERENCE_KERNELS`, gives the same picture.

mod common;

use common::{assert_ok, faststyle, write_image, write_style};

#[test]
fn host_kernels_match_the_reference_path_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    // Width 1.0 with all channel counts, and an odd size that takes the padding path.
    let style = write_style(&dir.path().join("s.safetensors"), 1.0);
    let input = write_image(&dir.path().join("in.png"), 62, 45);
    let run = |reference: &str, out: &str| {
        let out = dir.path().join(out);
        let output = faststyle()
            .env("FASTSTYLE_REFERENCE_KERNELS", reference)
            .args(["image", input.to_str().unwrap(), "--style"])
            .arg(&style)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_ok(&output);
        image::open(out).unwrap().to_rgb8()
    };
    let host = run("0", "host.png");
    let reference = run("1", "reference.png");
    assert_eq!(host.dimensions(), reference.dimensions());
    let worst = host
        .as_raw()
        .iter()
        .zip(reference.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    // Rounding to 8 bits can flip one level where the two float sums straddle a half.
    assert!(
        worst <= 1,
        "host and reference pictures differ by up to {worst} levels"
    );
    let mean_output: f64 =
        host.as_raw().iter().map(|v| *v as f64).sum::<f64>() / host.as_raw().len() as f64;
    assert!(
        mean_output > 1.0 && mean_output < 254.0,
        "degenerate output {mean_output}"
    );
}
