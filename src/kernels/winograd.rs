//! 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3): each 2x2 output
//! tile costs 16 multiplies per channel pair instead of 36, so the GEMMs do 2.25x less
//! work. The input and output transforms are adds only. Used for the residual blocks and
//! the upsampling layers of the style network and for VGG19's convolutions and their input
//! gradients, which are most of the work of training.

use rayon::prelude::*;

use super::conv::{SharedMut, matmul};

/// Upper bound on one chunk's transformed input or output (floats).
#[cfg(not(test))]
const CHUNK_FLOATS: usize = 1 << 20;
/// Tiny in tests, so that their small frames are split too.
#[cfg(test)]
const CHUNK_FLOATS: usize = 1 << 9;

/// U = G g Gᵀ for every (output, input) channel pair, laid out [16][c_out][c_in].
fn transform_filters(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * c_out * c_in];
    for o in 0..c_out {
        for i in 0..c_in {
            let g = &weight[(o * c_in + i) * 9..][..9];
            // G g: 4x3, G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]
            let mut t = [[0.0f32; 3]; 4];
            for c in 0..3 {
                let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
                t[0][c] = a;
                t[1][c] = 0.5 * (a + b + d);
                t[2][c] = 0.5 * (a - b + d);
                t[3][c] = d;
            }
            for (r, row) in t.iter().enumerate() {
                let (a, b, d) = (row[0], row[1], row[2]);
                let vals = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (c, v) in vals.iter().enumerate() {
                    u[((r * 4 + c) * c_out + o) * c_in + i] = *v;
                }
            }
        }
    }
    u
}

/// Transforms one row of input tiles (V = Bᵀ d B, Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],
/// [0,1,0,-1]]): `rows` are the four input rows (zero-extended to 2·tiles + 2), `dst` the
/// 16 output rows, one value per tile each. Written as whole-row passes so they vectorize.
fn transform_input_row(rows: [&[f32]; 4], tmp: &mut [Vec<f32>; 4], dst: [&mut [f32]; 16]) {
    let [d0, d1, d2, d3] = rows;
    // Bᵀ d, down the columns.
    for (i, t) in tmp.iter_mut().enumerate() {
        t.clear();
        t.extend(
            d0.iter()
                .zip(d1)
                .zip(d2)
                .zip(d3)
                .map(|(((a, b), c), d)| match i {
                    0 => a - c,
                    1 => b + c,
                    2 => c - b,
                    _ => b - d,
                }),
        );
    }
    // (Bᵀ d) B, along the rows: tile j reads columns 2j..2j+3.
    let mut dst = dst.into_iter();
    for t in tmp.iter() {
        let quads = t.windows(4).step_by(2);
        let [v0, v1, v2, v3] = [(); 4].map(|_| dst.next().unwrap());
        for ((((q, a), b), c), d) in quads
            .zip(v0.iter_mut())
            .zip(v1.iter_mut())
            .zip(v2.iter_mut())
            .zip(v3.iter_mut())
        {
            *a = q[0] - q[2];
            *b = q[1] + q[2];
            *c = q[2] - q[1];
            *d = q[1] - q[3];
        }
    }
}

/// Transforms one row of product tiles back (Y = Aᵀ m A, Aᵀ = [[1,1,1,0],[0,1,-1,-1]]) and
/// adds the 2 output rows into `out0` and `out1` (either may be shorter than 2·tiles).
fn transform_output_row(
    m: [&[f32]; 16],
    s: &mut [Vec<f32>; 8],
    out0: &mut [f32],
    out1: &mut [f32],
) {
    // Aᵀ m, down the columns: s[c] = row 0, s[4 + c] = row 1.
    for c in 0..4 {
        let (a, b, cc, d) = (m[c], m[4 + c], m[8 + c], m[12 + c]);
        s[c].clear();
        s[c].extend(a.iter().zip(b).zip(cc).map(|((a, b), c)| a + b + c));
        s[4 + c].clear();
        s[4 + c].extend(b.iter().zip(cc).zip(d).map(|((b, c), d)| b - c - d));
    }
    // (Aᵀ m) A, along the rows, interleaved into the output rows.
    for (r, out) in [out0, out1].into_iter().enumerate() {
        let (a, b, c, d) = (&s[4 * r], &s[4 * r + 1], &s[4 * r + 2], &s[4 * r + 3]);
        let mut pairs = out.chunks_mut(2);
        for (((a, b), c), d) in a.iter().zip(b).zip(c).zip(d) {
            let Some(pair) = pairs.next() else { break };
            pair[0] += a + b + c;
            if let Some(second) = pair.get_mut(1) {
                *second += b - c - d;
            }
        }
    }
}

/// Per-thread buffers: transformed input, products, and row temporaries.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: Vec<f32>,
    columns: [Vec<f32>; 4],
    sums: [Vec<f32>; 8],
}

/// Convolves padded images `p` (batch x c_in x hp x wp) with a 3x3 `weight`, stride 1,
/// adding into `out` (batch x c_out x (hp-2) x (wp-2)), which holds the bias.
#[allow(clippy::too_many_arguments)]
pub fn convolve_3x3(
    p: &[f32],
    c_in: usize,
    c_out: usize,
    batch: usize,
    hp: usize,
    wp: usize,
    weight: &[f32],
    out: &mut [f32],
) {
    let (ho, wo) = (hp - 2, wp - 2);
    let (th, tw) = (ho.div_ceil(2), wo.div_ceil(2));
    let u = transform_filters(weight, c_out, c_in);
    let rows = (CHUNK_FLOATS / (16 * c_in.max(c_out) * tw)).clamp(1, th);
    let work: Vec<(usize, usize, usize)> = (0..batch)
        .flat_map(|b| {
            (0..th)
                .step_by(rows)
                .map(move |r| (b, r, (r + rows).min(th)))
        })
        .collect();
    let dst = SharedMut(out.as_mut_ptr());
    let zeros = vec![0.0f32; 2 * tw + 2];
    work.into_par_iter().for_each_init(
        Scratch::default,
        |Scratch {
             v,
             m,
             rows: rows_buf,
             columns: tmp,
             sums: s,
         },
         (b, i0, i1)| {
            let nt = (i1 - i0) * tw;
            let span = 2 * tw + 2;
            v.resize(16 * c_in * nt, 0.0);
            m.resize(16 * c_out * nt, 0.0);
            rows_buf.resize(4 * span, 0.0);
            for c in 0..c_in {
                let plane = &p[(b * c_in + c) * hp * wp..][..hp * wp];
                for ti in i0..i1 {
                    // The four input rows, zero-extended past the padded frame.
                    for r in 0..4 {
                        let dst = &mut rows_buf[r * span..(r + 1) * span];
                        let y = 2 * ti + r;
                        if y < hp {
                            let n = wp.min(span);
                            dst[..n].copy_from_slice(&plane[y * wp..y * wp + n]);
                            dst[n..].fill(0.0);
                        } else {
                            dst.copy_from_slice(&zeros);
                        }
                    }
                    let rows = [0, 1, 2, 3].map(|r| &rows_buf[r * span..(r + 1) * span]);
                    // 16 disjoint destination rows, one per ξ: v is [ξ][c][tile].
                    let base = c * nt + (ti - i0) * tw;
                    let mut planes = v.chunks_mut(c_in * nt);
                    let dst = [(); 16].map(|_| &mut planes.next().unwrap()[base..base + tw]);
                    transform_input_row(rows, tmp, dst);
                }
            }
            for xi in 0..16 {
                // SAFETY: u is [16][c_out][c_in], v is [16][c_in][nt], m is [16][c_out][nt].
                unsafe {
                    matmul(
                        c_out,
                        nt,
                        c_in,
                        m.as_mut_ptr().add(xi * c_out * nt),
                        nt,
                        false,
                        u.as_ptr().add(xi * c_out * c_in),
                        c_in,
                        1,
                        v.as_ptr().add(xi * c_in * nt),
                        nt,
                        1,
                    );
                }
            }
            for o in 0..c_out {
                let start = (b * c_out + o) * ho * wo;
                // SAFETY: chunk (b, i0..i1) owns output rows 2*i0..2*i1 of every channel.
                let y_plane =
                    unsafe { std::slice::from_raw_parts_mut(dst.get().add(start), ho * wo) };
                for ti in i0..i1 {
                    let base = (ti - i0) * tw;
                    let mut planes = m.chunks(c_out * nt);
                    let tiles = [(); 16].map(|_| &planes.next().unwrap()[o * nt + base..][..tw]);
                    let oy = 2 * ti;
                    let (head, tail) = y_plane.split_at_mut((oy + 1).min(ho) * wo);
                    let out0 = &mut head[oy * wo..];
                    let out1 = if oy + 1 < ho {
                        &mut tail[..wo]
                    } else {
                        &mut [][..]
                    };
                    transform_output_row(tiles, s, out0, out1);
                }
            }
        },
    );
}
