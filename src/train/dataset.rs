//! Training photos: a folder scanned recursively, served as batches of random square
//! crops by worker threads that keep a bounded queue of ready batches.
//!
//! Batch `k` depends only on the seed and `k` (which photos, which crops), so a resumed run
//! sees exactly the batches an uninterrupted one would: the data order needs no saved
//! state beyond the step.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crossbeam::channel::{self, Receiver};
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Error;
use crate::picture::Planar;

pub const PHOTO_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

/// The photo files of a dataset folder, sorted (so a seed always means the same thing).
pub fn scan(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(Error::Input {
            path: dir.to_path_buf(),
            detail: "no such folder (the dataset must be a folder of photos)".to_string(),
        });
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::Input {
            path: d.clone(),
            detail: format!("cannot list the folder: {}", crate::fsutil::describe_io(&e)),
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| PHOTO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Input {
            path: dir.to_path_buf(),
            detail: "contains no photos (.jpg, .jpeg, .png or .webp, searched recursively)"
                .to_string(),
        });
    }
    Ok(files)
}

/// Square crop of random size (`scale` x 60-100% of the shorter side, at most all of it)
/// and place, resized to `size`, randomly mirrored.
pub fn random_crop(img: &RgbImage, size: u32, scale: f32, rng: &mut ChaCha8Rng) -> RgbImage {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    let side = ((short as f32) * scale * rng.random_range(0.6..=1.0))
        .round()
        .clamp(1.0, short as f32) as u32;
    let x = rng.random_range(0..=w - side);
    let y = rng.random_range(0..=h - side);
    let crop = image::imageops::crop_imm(img, x, y, side, side).to_image();
    let mut out = image::imageops::resize(&crop, size, size, image::imageops::FilterType::Triangle);
    if rng.random_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

/// The largest centred square, resized: how validation photos are shown.
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let crop =
        image::imageops::crop_imm(img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    image::imageops::resize(&crop, size, size, image::imageops::FilterType::CatmullRom)
}

/// Which file and which crop randomness make item `i` of batch `step`.
struct Sampler {
    files: Arc<Vec<PathBuf>>,
    seed: u64,
    batch: usize,
    size: u32,
    /// See [`random_crop`].
    crop_scale: f32,
    /// Files that failed to decode, warned about once each.
    bad: Arc<Mutex<HashSet<PathBuf>>>,
    perm_cache: Option<(u64, Vec<usize>)>,
}

impl Sampler {
    fn permutation(&mut self, epoch: u64) -> &[usize] {
        if self.perm_cache.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let mut perm: Vec<usize> = (0..self.files.len()).collect();
            let mut rng =
                ChaCha8Rng::seed_from_u64(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            perm.shuffle(&mut rng);
            self.perm_cache = Some((epoch, perm));
        }
        &self.perm_cache.as_ref().expect("just set").1
    }

    /// `None` when no photo at all can be read.
    fn batch(&mut self, step: u64) -> Option<Vec<Planar>> {
        let n = self.files.len() as u64;
        (0..self.batch as u64)
            .map(|i| {
                let global = step * self.batch as u64 + i;
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed
                        .wrapping_add(0xD1B5_4A32_D192_ED03u64.wrapping_mul(global + 1)),
                );
                // Unreadable files are skipped by taking the next one in the epoch's order.
                for attempt in 0..n {
                    let g = global + attempt;
                    let index = self.permutation(g / n)[(g % n) as usize];
                    let file = self.files[index].clone();
                    match image::open(&file) {
                        Ok(img) if img.width() > 0 && img.height() > 0 => {
                            return Some(Planar::from_rgb(&random_crop(
                                &img.to_rgb8(),
                                self.size,
                                self.crop_scale,
                                &mut rng,
                            )));
                        }
                        result => {
                            let mut bad = self.bad.lock().expect("not poisoned");
                            if bad.insert(file.clone()) {
                                let why = result
                                    .err()
                                    .map(|e| e.to_string())
                                    .unwrap_or_else(|| "empty image".into());
                                eprintln!(
                                    "warning: skipping unreadable photo {}: {why}",
                                    file.display()
                                );
                            }
                        }
                    }
                }
                None
            })
            .collect()
    }
}

/// Batches from `first_step` on, in order, prepared ahead by worker threads.
pub struct BatchLoader {
    rx: Option<Receiver<(u64, Vec<Planar>)>>,
    ready: BTreeMap<u64, Vec<Planar>>,
    next: u64,
    workers: Vec<std::thread::JoinHandle<()>>,
    bad: Arc<Mutex<HashSet<PathBuf>>>,
}

impl BatchLoader {
    pub fn start(
        files: Vec<PathBuf>,
        seed: u64,
        batch: usize,
        (size, crop_scale): (u32, f32),
        first_step: u64,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1) as u64;
        let files = Arc::new(files);
        let bad = Arc::new(Mutex::new(HashSet::new()));
        let (tx, rx) = channel::bounded(2 * workers as usize);
        let handles = (0..workers)
            .map(|w| {
                let tx = tx.clone();
                let mut sampler = Sampler {
                    files: files.clone(),
                    seed,
                    batch,
                    size,
                    crop_scale,
                    bad: bad.clone(),
                    perm_cache: None,
                };
                std::thread::spawn(move || {
                    let mut step = first_step + w;
                    loop {
                        let Some(images) = sampler.batch(step) else {
                            return; // nothing readable: the trainer sees the channel close
                        };
                        if tx.send((step, images)).is_err() {
                            return; // the trainer is gone
                        }
                        step += workers;
                    }
                })
            })
            .collect();
        Self {
            rx: Some(rx),
            ready: BTreeMap::new(),
            next: first_step,
            workers: handles,
            bad,
        }
    }

    /// The batch for the next step.
    pub fn next_batch(&mut self) -> Result<Vec<Planar>, Error> {
        loop {
            if let Some(b) = self.ready.remove(&self.next) {
                self.next += 1;
                return Ok(b);
            }
            let rx = self.rx.as_ref().expect("loader running");
            match rx.recv() {
                Ok((step, images)) => {
                    self.ready.insert(step, images);
                }
                Err(_) => {
                    return Err(Error::Internal(
                        "the photo loader stopped (no photo in the dataset can be read?)"
                            .to_string(),
                    ));
                }
            }
        }
    }

    /// Photos skipped as unreadable so far.
    pub fn skipped(&self) -> usize {
        self.bad.lock().map(|b| b.len()).unwrap_or(0)
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Closing the channel ends the workers at their next send.
        self.rx.take();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The span of source columns a crop shows, read back from a photo whose red channel
    /// is its column.
    fn columns_shown(scale: f32, seed: u64) -> u32 {
        let photo = RgbImage::from_fn(400, 300, |x, _| image::Rgb([(x * 255 / 399) as u8, 0, 0]));
        let out = random_crop(&photo, 64, scale, &mut ChaCha8Rng::seed_from_u64(seed));
        let reds = out.pixels().map(|p| p[0] as u32);
        let (lo, hi) = reds.fold((255, 0), |(lo, hi), r| (lo.min(r), hi.max(r)));
        (hi - lo) * 399 / 255
    }

    #[test]
    fn crop_scale_scales_the_part_of_the_photo_a_crop_shows() {
        for seed in 0..20 {
            // 60-100% of the shorter side (300): 180-300 columns, then half of that.
            let full = columns_shown(1.0, seed);
            assert!((170..=300).contains(&full), "scale 1: {full} columns");
            let half = columns_shown(0.5, seed);
            assert!((85..=155).contains(&half), "scale 0.5: {half} columns");
            // Never more than the photo holds: at the largest scale, always all of it.
            let all = columns_shown(1.0 / 0.6, seed);
            assert!(all >= 285, "scale 1/0.6: {all} columns");
        }
    }
}
