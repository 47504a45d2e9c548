//! Writes the VGG19 layers a loss uses (default: up to block5_conv1, what training needs)
//! as a 26 MB safetensors file of f16 weights, which `--vgg` and `$FASTSTYLE_VGG19` take in
//! place of the 80 MB Keras file: for a machine that can be sent only so much.
//!
//!     cargo run --release --example export_vgg19 -- OUT.safetensors [DEEPEST_LAYER]

use faststyle::model::vgg;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: export_vgg19 OUT.safetensors [DEEPEST_LAYER]");
        std::process::exit(2);
    };
    let deepest = args.next().unwrap_or_else(|| "block5_conv1".to_string());
    let keras = vgg::weights_path(None);
    let result = vgg::read_weights(&keras, &deepest)
        .map_err(|e| e.to_string())
        .and_then(|w| vgg::write_safetensors(&w, std::path::Path::new(&out)));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    println!(
        "{out}: VGG19 up to {deepest}, f16, from {}",
        keras.display()
    );
}
