//! Video frames onto the device and back as packed 8-bit 4:2:0 words: the host side of
//! [`Kernels::rgb_from_yuv420`] and [`Kernels::yuv420_from_rgb`], and those methods'
//! host implementations (the default for backends without device kernels).

use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

use super::{Kernels, float, tensor};
use crate::picture::{self, Planar};
use crate::yuv::{self, Yuv420, YuvGeometry, YuvModel};

/// Frames of one size and model → NCHW RGB 0..255 in `dtype` on `device`.
pub fn upload<B: Kernels>(
    frames: &[&Yuv420],
    dtype: FloatDType,
    device: &B::Device,
) -> Tensor<B, 4> {
    let first = frames[0];
    assert!(
        frames
            .iter()
            .all(|f| f.geometry == first.geometry && f.model == first.model),
        "a batch needs one size and one colour model"
    );
    let words = words_tensor::<B>(yuv::pack_words(frames), device);
    tensor(B::rgb_from_yuv420(
        words,
        frames.len(),
        first.geometry,
        first.model,
        dtype,
    ))
}

/// NCHW RGB → one 4:2:0 frame in `model` per image (blocks until the device is done).
pub fn download<B: Kernels>(x: Tensor<B, 4>, model: YuvModel) -> Vec<Yuv420> {
    let [_, _, h, w] = x.dims();
    let words = Tensor::<B, 1, Int>::from_primitive(B::yuv420_from_rgb(float(x), model));
    let geometry = YuvGeometry {
        width: w,
        height: h,
    };
    yuv::unpack_words(&host_words(words.into_data()), geometry, model)
}

/// Words as the backend's integers (bit for bit where those are 32-bit).
fn words_tensor<B: Kernels>(words: Vec<u32>, device: &B::Device) -> IntTensor<B> {
    let len = words.len();
    let signed: Vec<i32> = words.into_iter().map(|w| w as i32).collect();
    Tensor::<B, 1, Int>::from_data(TensorData::new(signed, [len]), device).into_primitive()
}

fn host_words(data: TensorData) -> Vec<u32> {
    // Through i64, so that i32 and i64 integers both come back bit for bit.
    data.iter::<i64>().map(|v| v as u32).collect()
}

pub(super) fn host_rgb_from_yuv420<B: Kernels>(
    words: IntTensor<B>,
    geometry: YuvGeometry,
    model: YuvModel,
    dtype: FloatDType,
) -> FloatTensor<B> {
    let words = Tensor::<B, 1, Int>::from_primitive(words);
    let device = words.device();
    let frames = yuv::unpack_words(&host_words(words.into_data()), geometry, model);
    let planar: Vec<Planar> = frames.iter().map(Yuv420::to_planar).collect();
    float(picture::to_tensor::<B>(&planar, &device).cast(dtype))
}

pub(super) fn host_yuv420_from_rgb<B: Kernels>(x: FloatTensor<B>, model: YuvModel) -> IntTensor<B> {
    let x = tensor::<B, 4>(x);
    let device = x.device();
    let frames: Vec<Yuv420> = picture::from_tensor(x)
        .iter()
        .map(|p| Yuv420::from_planar(p, model))
        .collect();
    words_tensor::<B>(yuv::pack_words(&frames.iter().collect::<Vec<_>>()), &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn host_upload_and_download_match_the_reference_conversion() {
        let model = YuvModel::new(YuvModel::BT709, false);
        let image = Planar::test_pattern(7, 5);
        let mut darker = image.clone();
        darker.data.iter_mut().for_each(|v| *v *= 0.5);
        let frames = [
            Yuv420::from_planar(&image, model),
            Yuv420::from_planar(&darker, model),
        ];
        let refs: Vec<&Yuv420> = frames.iter().collect();
        let device = Default::default();
        let rgb = upload::<Flex>(&refs, FloatDType::F32, &device);
        assert_eq!(rgb.dims(), [2, 3, 5, 7]);
        let host: Vec<f32> = frames.iter().flat_map(|f| f.to_planar().data).collect();
        let got: Vec<f32> = rgb.clone().into_data().to_vec().unwrap();
        assert_eq!(got, host);
        let want: Vec<Yuv420> = picture::from_tensor(rgb.clone())
            .iter()
            .map(|p| Yuv420::from_planar(p, model))
            .collect();
        assert_eq!(download::<Flex>(rgb, model), want);
    }
}
