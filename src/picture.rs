//! Images as the network sees them (planar RGB f32 in 0..255) and the post-processing
//! applied to its output: colour preservation and strength blending.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::RgbImage;

use crate::error::Error;

/// Planar RGB, 0..255, one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    pub width: usize,
    pub height: usize,
    /// R plane, then G, then B; each `width * height` values, row-major.
    pub data: Vec<f32>,
}

impl Planar {
    /// A deterministic, textured frame for benchmarks (a flat one would be an odd input).
    pub fn test_pattern(width: usize, height: usize) -> Self {
        let data = (0..3 * width * height)
            .map(|i| ((i * 7919) % 251) as f32)
            .collect();
        Self {
            width,
            height,
            data,
        }
    }

    pub fn from_rgb(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let n = w * h;
        let mut data = vec![0.0; 3 * n];
        for (i, px) in img.pixels().enumerate() {
            data[i] = px[0] as f32;
            data[n + i] = px[1] as f32;
            data[2 * n + i] = px[2] as f32;
        }
        Self {
            width: w,
            height: h,
            data,
        }
    }

    /// Rounds and clamps to 8-bit RGB.
    pub fn to_rgb(&self) -> RgbImage {
        let n = self.width * self.height;
        let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb([
                q(self.data[i]),
                q(self.data[n + i]),
                q(self.data[2 * n + i]),
            ])
        })
    }

    fn pixels(&self) -> usize {
        self.width * self.height
    }
}

/// Stacks same-sized images into one NCHW tensor.
pub fn to_tensor<B: Backend>(images: &[Planar], device: &B::Device) -> Tensor<B, 4> {
    let (w, h) = (images[0].width, images[0].height);
    let mut data = Vec::with_capacity(images.len() * 3 * w * h);
    for img in images {
        assert_eq!((img.width, img.height), (w, h), "a batch needs one size");
        data.extend_from_slice(&img.data);
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

/// Splits an NCHW tensor back into images.
pub fn from_tensor<B: Backend>(tensor: Tensor<B, 4>) -> Vec<Planar> {
    let [n, _, h, w] = tensor.dims();
    let values: Vec<f32> = tensor
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("float tensor data");
    values
        .chunks_exact(3 * h * w)
        .take(n)
        .map(|chunk| Planar {
            width: w,
            height: h,
            data: chunk.to_vec(),
        })
        .collect()
}

// BT.601 full-range (JPEG) luma coefficients.
const KR: f32 = 0.299;
const KG: f32 = 0.587;
const KB: f32 = 0.114;

fn luma(r: f32, g: f32, b: f32) -> f32 {
    KR * r + KG * g + KB * b
}

/// Keeps the original's colours: the stylized image's luma with the original's chroma.
/// Equivalent to converting both to YCbCr and taking Y from `stylized`, Cb and Cr from
/// `original`; in RGB that is adding the luma difference to every channel.
pub fn preserve_color(stylized: &Planar, original: &Planar) -> Planar {
    let n = stylized.pixels();
    let mut out = original.clone();
    for i in 0..n {
        let (s, o) = (&stylized.data, &original.data);
        let dy = luma(s[i], s[n + i], s[2 * n + i]) - luma(o[i], o[n + i], o[2 * n + i]);
        for c in 0..3 {
            out.data[c * n + i] = o[c * n + i] + dy;
        }
    }
    out
}

/// `strength * stylized + (1 - strength) * original`.
pub fn blend(stylized: &Planar, original: &Planar, strength: f32) -> Planar {
    let data = stylized
        .data
        .iter()
        .zip(&original.data)
        .map(|(s, o)| strength * s + (1.0 - strength) * o)
        .collect();
    Planar {
        data,
        ..stylized.clone()
    }
}

/// Cb and Cr (BT.601 full range) of an 8-bit RGB pixel; for checks of colour preservation.
pub fn chroma(px: image::Rgb<u8>) -> (f32, f32) {
    let [r, g, b] = px.0.map(f32::from);
    let y = luma(r, g, b);
    ((b - y) / (2.0 * (1.0 - KB)), (r - y) / (2.0 * (1.0 - KR)))
}

/// Opens and decodes an image as 8-bit RGB (alpha dropped, grey expanded).
pub fn load_rgb(path: &Path) -> Result<RgbImage, Error> {
    let input = |detail: String| Error::Input {
        path: path.to_path_buf(),
        detail,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| {
            input(format!(
                "cannot open it: {}",
                crate::fsutil::describe_io(&e)
            ))
        })?
        .with_guessed_format()
        .map_err(|e| {
            input(format!(
                "cannot read it: {}",
                crate::fsutil::describe_io(&e)
            ))
        })?;
    if reader.format().is_none() {
        return Err(input(
            "is not an image in a format faststyle reads".to_string(),
        ));
    }
    let img = reader
        .decode()
        .map_err(|e| input(format!("cannot decode the image: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(input("the image is empty (0 pixels)".to_string()));
    }
    Ok(img.to_rgb8())
}

/// Resamples a picture to `width` x `height` (bilinear, widened to average every source
/// pixel when shrinking), clamped to 0..255.
pub fn resize(img: &Planar, width: usize, height: usize) -> Planar {
    resample(img, width, height, image::imageops::FilterType::Triangle)
}

/// Shrinks a picture to `width` x `height` by averaging the block of pixels that falls
/// on each new one: a picture of 2x2 blocks halved is exactly its picture of one pixel a
/// block, which a smoothing filter would blur.
pub fn shrink(img: &Planar, width: usize, height: usize) -> Planar {
    from_buffer(&image::imageops::thumbnail(
        &to_buffer(img),
        width as u32,
        height as u32,
    ))
}

/// Enlarges a picture to `width` x `height` with Catmull-Rom: sharper edges than bilinear,
/// for the network's output at `--stroke-scale` above 1.
pub fn upscale(img: &Planar, width: usize, height: usize) -> Planar {
    resample(img, width, height, image::imageops::FilterType::CatmullRom)
}

fn resample(
    img: &Planar,
    width: usize,
    height: usize,
    filter: image::imageops::FilterType,
) -> Planar {
    from_buffer(&image::imageops::resize(
        &to_buffer(img),
        width as u32,
        height as u32,
        filter,
    ))
}

/// The picture as the image crate's f32 pixels, which live in 0..1 (its filters clamp to
/// that).
fn to_buffer(img: &Planar) -> image::Rgb32FImage {
    let n = img.pixels();
    let interleaved: Vec<f32> = (0..n)
        .flat_map(|i| [img.data[i], img.data[n + i], img.data[2 * n + i]])
        .map(|v| v / 255.0)
        .collect();
    image::Rgb32FImage::from_raw(img.width as u32, img.height as u32, interleaved)
        .expect("three values a pixel")
}

fn from_buffer(out: &image::Rgb32FImage) -> Planar {
    let (width, height) = (out.width() as usize, out.height() as usize);
    let m = width * height;
    let mut data = vec![0.0; 3 * m];
    for (i, px) in out.pixels().enumerate() {
        data[i] = 255.0 * px[0];
        data[m + i] = 255.0 * px[1];
        data[2 * m + i] = 255.0 * px[2];
    }
    Planar {
        width,
        height,
        data,
    }
}

/// Scales the image down so that its longer side is at most `max_side` (never up).
pub fn limit_size(img: RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let longest = w.max(h);
    if longest <= max_side {
        return img;
    }
    let scale = max_side as f64 / longest as f64;
    let nw = ((w as f64 * scale).round() as u32).max(1);
    let nh = ((h as f64 * scale).round() as u32).max(1);
    image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Lanczos3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_the_0_to_255_range_and_a_ramp() {
        let ramp = Planar {
            width: 4,
            height: 2,
            data: (0..24).map(|i| [0.0, 85.0, 170.0, 255.0][i % 4]).collect(),
        };
        let big = resize(&ramp, 8, 4);
        assert_eq!((big.width, big.height, big.data.len()), (8, 4, 96));
        let row: Vec<f32> = big.data[..8].to_vec();
        assert!(row[0] < 10.0 && row[7] > 245.0, "{row:?}");
        assert!(row.windows(2).all(|p| p[1] >= p[0] - 1e-3), "{row:?}");
        assert_eq!(resize(&ramp, 4, 2).data, ramp.data);
    }

    fn planar(rgb: &[[f32; 3]]) -> Planar {
        let n = rgb.len();
        let mut data = vec![0.0; 3 * n];
        for (i, p) in rgb.iter().enumerate() {
            for c in 0..3 {
                data[c * n + i] = p[c];
            }
        }
        Planar {
            width: n,
            height: 1,
            data,
        }
    }

    #[test]
    fn preserve_color_takes_luma_from_stylized_and_chroma_from_original() {
        let original = planar(&[[200.0, 40.0, 30.0], [10.0, 120.0, 220.0]]);
        let stylized = planar(&[[90.0, 90.0, 90.0], [30.0, 250.0, 0.0]]);
        let out = preserve_color(&stylized, &original);
        let n = 2;
        for i in 0..n {
            let px = |p: &Planar| [p.data[i], p.data[n + i], p.data[2 * n + i]];
            let (o, s, r) = (px(&original), px(&stylized), px(&out));
            let y = |v: [f32; 3]| luma(v[0], v[1], v[2]);
            assert!((y(r) - y(s)).abs() < 1e-3);
            let cb = |v: [f32; 3]| v[2] - y(v);
            let cr = |v: [f32; 3]| v[0] - y(v);
            assert!((cb(r) - cb(o)).abs() < 1e-3);
            assert!((cr(r) - cr(o)).abs() < 1e-3);
        }
    }

    #[test]
    fn blend_endpoints() {
        let a = planar(&[[1.0, 2.0, 3.0]]);
        let b = planar(&[[10.0, 20.0, 30.0]]);
        assert_eq!(blend(&a, &b, 1.0), a);
        assert_eq!(blend(&a, &b, 0.0), b);
        assert_eq!(blend(&a, &b, 0.5).data, vec![5.5, 11.0, 16.5]);
    }

    #[test]
    fn rgb_round_trip() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 80, 7]));
        assert_eq!(Planar::from_rgb(&img).to_rgb(), img);
    }

    #[test]
    fn limit_size_keeps_aspect_and_never_upscales() {
        let img = RgbImage::new(400, 200);
        assert_eq!(limit_size(img.clone(), 100).dimensions(), (100, 50));
        assert_eq!(limit_size(img, 1000).dimensions(), (400, 200));
    }
}
