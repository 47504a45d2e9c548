//! Where a style network hides global statistics: runs a style on one picture layer by
//! layer and prints, for each convolution's output (before its instance norm), where its
//! energy is most concentrated (the largest |z| = |x - mean| / std of any pixel, and the
//! largest share of a channel's variance carried by its top 1% of pixels), and
//! for the output layer how many pixels sit in tanh's flat tails (|pre-tanh| > 3, where the
//! gradient is under 1% of its peak: a pixel there barely learns).
//!
//!     cargo run --release --example activation_peaks -- STYLE PICTURE [MAX_SIDE [MASK.png]]
//!
//! MASK.png, if given, shows the pixels in the flat tails in white.
//!
//! A network that keeps a few huge pixels in some channel uses them to steer that
//! channel's instance-norm statistics (the "droplet" of Karras et al. 2020); the pixels
//! surface in the output as saturated blobs.

use burn::tensor::Tensor;
use faststyle::catalog;
use faststyle::device::Cpu;
use faststyle::model::layers::ConvNorm;
use faststyle::picture::{self, Planar};

type B = Cpu;

/// The most peaked channel of a layer: the largest |z| of any pixel, and the largest share
/// of a channel's variance that its top 1% of pixels carry (about 9% for Gaussian noise;
/// a blob that steers the channel's statistics carries most of it).
struct Peaks {
    z: (usize, f32),
    share: (usize, f32),
    /// Kurtosis E[d⁴] / E[d²]² over the channels (3 for Gaussian noise): median, max.
    kurtosis: (f32, f32),
}

fn peaks(x: &Tensor<B, 4>) -> Peaks {
    let [_, c, h, w] = x.dims();
    let values: Vec<f32> = x.clone().into_data().to_vec().expect("f32 data");
    let n = h * w;
    let mut best = Peaks {
        z: (0, 0.0),
        share: (0, 0.0),
        kurtosis: (0.0, 0.0),
    };
    let mut kurtosis = Vec::with_capacity(c);
    for ch in 0..c {
        let plane = &values[ch * n..(ch + 1) * n];
        let mean = plane.iter().sum::<f32>() / n as f32;
        let mut dev: Vec<f32> = plane.iter().map(|v| (v - mean) * (v - mean)).collect();
        let var = dev.iter().sum::<f32>() / n as f32;
        if var <= 0.0 {
            continue;
        }
        kurtosis.push(dev.iter().map(|d| d * d).sum::<f32>() / n as f32 / (var * var));
        dev.sort_by(|a, b| b.total_cmp(a));
        let share = dev[..(n / 100).max(1)].iter().sum::<f32>() / (var * n as f32);
        let z = (dev[0] / var).sqrt();
        if z > best.z.1 {
            best.z = (ch, z);
        }
        if share > best.share.1 {
            best.share = (ch, share);
        }
    }
    kurtosis.sort_by(|a, b| a.total_cmp(b));
    if let (Some(mid), Some(max)) = (kurtosis.get(kurtosis.len() / 2), kurtosis.last()) {
        best.kurtosis = (*mid, *max);
    }
    best
}

fn report(name: &str, pre_norm: &Tensor<B, 4>) {
    let p = peaks(pre_norm);
    println!(
        "{name:<8} max |z| {:>6.1} (channel {:>3}); top 1% of pixels hold {:>5.1}% of channel {:>3}'s variance; kurtosis median {:>6.1}, max {:>7.1}",
        p.z.1,
        p.z.0,
        100.0 * p.share.1,
        p.share.0,
        p.kurtosis.0,
        p.kurtosis.1
    );
}

fn conv_norm(name: &str, layer: &ConvNorm<B>, x: Tensor<B, 4>, upsample: bool) -> Tensor<B, 4> {
    let y = layer.conv.forward_with(x, upsample);
    report(name, &y);
    layer.norm.forward(y, layer.relu)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: activation_peaks STYLE PICTURE [MAX_SIDE]";
    let style = args.next().expect(usage);
    let picture_path = args.next().expect(usage);
    let max_side: u32 = args
        .next()
        .map(|s| s.parse().expect("MAX_SIDE"))
        .unwrap_or(4096);
    let mask_path = args.next();
    let device = Default::default();
    let (file, path) = catalog::load(&style).unwrap_or_else(|e| panic!("{e}"));
    let model = file
        .to_model::<B>(&device, &path)
        .unwrap_or_else(|e| panic!("{e}"));
    let img =
        picture::load_rgb(std::path::Path::new(&picture_path)).unwrap_or_else(|e| panic!("{e}"));
    let img = picture::limit_size(img, max_side);
    let (w, h) = img.dimensions();
    let (w, h) = (w - w % 4, h - h % 4);
    let img = image::imageops::crop_imm(&img, 0, 0, w, h).to_image();
    println!("{style} on {picture_path} ({w}x{h})");
    let x = picture::to_tensor::<B>(&[Planar::from_rgb(&img)], &device);
    let mut y = conv_norm("conv1", &model.conv1, x, false);
    y = conv_norm("conv2", &model.conv2, y, false);
    y = conv_norm("conv3", &model.conv3, y, false);
    for (i, block) in model.res.iter().enumerate() {
        let a = conv_norm(&format!("res{}a", i + 1), &block.a, y.clone(), false);
        y = y + conv_norm(&format!("res{}b", i + 1), &block.b, a, false);
    }
    y = conv_norm("up1", &model.up1, y, true);
    y = conv_norm("up2", &model.up2, y, true);
    let pre_tanh = model.pre_tanh(y);
    report("out", &pre_tanh);
    let values: Vec<f32> = pre_tanh.into_data().to_vec().expect("f32 data");
    let n = (w * h) as usize;
    let flat = (0..n)
        .filter(|&i| (0..3).any(|c| values[c * n + i].abs() > 3.0))
        .count();
    if let Some(mask_path) = mask_path {
        let mask = image::GrayImage::from_fn(w, h, |x, y| {
            let i = (y * w + x) as usize;
            let tail = (0..3).any(|c| values[c * n + i].abs() > 3.0);
            image::Luma([if tail { 255 } else { 0 }])
        });
        mask.save(&mask_path).expect("write the mask");
    }
    let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!(
        "output: {:.2}% of pixels have a channel in tanh's flat tails (|pre-tanh| > 3); max |pre-tanh| {max:.1}",
        100.0 * flat as f64 / n as f64
    );
}
