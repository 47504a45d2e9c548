//! Writes the VGG19 layers a loss uses (default: up to block5_conv1, what training needs)
//! as a safetensors file of f16 weights (26 MB), or int8 ones with `--int8` (13 MB), which
//! `--vgg` and `$FASTSTYLE_VGG19` take in place of the 80 MB Keras file: for a machine
//! that can be sent only so much.
//!
//!     cargo run --release --example export_vgg19 -- OUT.safetensors [DEEPEST_LAYER] [--int8]

use faststyle::model::vgg::{self, KernelStorage};

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let int8 = all.iter().any(|a| a == "--int8");
    let mut args = all.into_iter().filter(|a| a != "--int8");
    let Some(out) = args.next() else {
        eprintln!("usage: export_vgg19 OUT.safetensors [DEEPEST_LAYER] [--int8]");
        std::process::exit(2);
    };
    let deepest = args.next().unwrap_or_else(|| "block5_conv1".to_string());
    let storage = if int8 {
        KernelStorage::Int8
    } else {
        KernelStorage::F16
    };
    let keras = vgg::weights_path(None);
    let result = vgg::read_weights(&keras, &deepest)
        .map_err(|e| e.to_string())
        .and_then(|w| vgg::write_safetensors(&w, std::path::Path::new(&out), storage));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    println!(
        "{out}: VGG19 up to {deepest}, {storage:?}, from {}",
        keras.display()
    );
}
