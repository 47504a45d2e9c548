//! The bf16 GEMM of [`super::amx`] for CPUs with AVX512-BF16 but no AMX tiles (AMD Zen 4
//! and later, Intel Cooper Lake).
//!
//! `VDPBF16PS` multiplies 16 pairs of bf16 by 16 pairs and adds both products into 16 f32
//! sums: 32 multiply-adds per instruction, twice an f32 FMA's. It takes its right operand
//! in the same pair-interleaved ("VNNI") layout as the AMX tiles and its left operand as one
//! pair broadcast to every lane, which is a 32-bit word of a packed A row, so this kernel
//! reads the very buffers the tile kernel does.

use std::arch::x86_64::*;

use super::amx::{DEPTH, K_SPAN, PackedA, PackedB, ROWS, TILE};

/// Rows of C one call of the micro-kernel holds in registers (with two 16-column blocks:
/// 16 accumulators of the 32 registers).
const MR: usize = 8;

/// Adds a * b to `sums` (row-major, `cols_padded` = b's padded columns a row).
///
/// # Safety
/// The CPU must have AVX512-BF16; `sums` must hold a's padded rows x `cols_padded`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn add_product(a: &PackedA, b: &PackedB, sums: &mut [f32], cols_padded: usize) {
    let k_blocks = a.k_blocks;
    let panel = k_blocks * TILE;
    let (pa, pb, c) = (a.data.as_ptr(), b.data.as_ptr(), sums.as_mut_ptr());
    debug_assert!(sums.len() >= a.m_blocks * ROWS * cols_padded);
    // As in the tile kernel: a span of the depth at a time, so A's span stays in L2 while
    // every column block passes over it.
    for k0 in (0..k_blocks).step_by(K_SPAN) {
        let k1 = (k0 + K_SPAN).min(k_blocks);
        for nb in (0..b.n_blocks).step_by(2) {
            for mb in 0..a.m_blocks {
                for r0 in (0..ROWS).step_by(MR) {
                    // SAFETY: rows mb*16 + r0.. (8 of them) and columns nb*16.. (32) lie in
                    // `sums`; the packed panels hold every k block of these blocks.
                    unsafe {
                        micro_kernel(
                            pa.add(mb * panel + r0 * DEPTH),
                            pb.add(nb * panel),
                            pb.add((nb + 1) * panel),
                            (k0, k1),
                            c.add((mb * ROWS + r0) * cols_padded + nb * ROWS),
                            cols_padded,
                        )
                    };
                }
            }
        }
    }
}

/// C[0..8][0..32] += A rows (8, from `a`) times the two column blocks `b0`, `b1`, over k
/// blocks k0..k1.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn micro_kernel(
    a: *const u16,
    b0: *const u16,
    b1: *const u16,
    (k0, k1): (usize, usize),
    c: *mut f32,
    c_rs: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        // SAFETY (whole function): the caller's bounds; loads are unaligned.
        unsafe {
            row[0] = _mm512_loadu_ps(c.add(r * c_rs));
            row[1] = _mm512_loadu_ps(c.add(r * c_rs + ROWS));
        }
    }
    for kb in k0..k1 {
        let (a, b0, b1) = unsafe { (a.add(kb * TILE), b0.add(kb * TILE), b1.add(kb * TILE)) };
        for p in 0..DEPTH / 2 {
            let (v0, v1) = unsafe {
                (
                    as_bh(_mm512_loadu_si512(b0.add(p * DEPTH) as *const __m512i)),
                    as_bh(_mm512_loadu_si512(b1.add(p * DEPTH) as *const __m512i)),
                )
            };
            for (r, row) in acc.iter_mut().enumerate() {
                // Row r's k-pair p: one 32-bit word, broadcast to the 16 lanes.
                let pair = unsafe { (a.add(r * DEPTH + 2 * p) as *const i32).read_unaligned() };
                let u = as_bh(_mm512_set1_epi32(pair));
                row[0] = _mm512_dpbf16_ps(row[0], u, v0);
                row[1] = _mm512_dpbf16_ps(row[1], u, v1);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        unsafe {
            _mm512_storeu_ps(c.add(r * c_rs), row[0]);
            _mm512_storeu_ps(c.add(r * c_rs + ROWS), row[1]);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
fn as_bh(v: __m512i) -> __m512bh {
    // SAFETY: both are 64 bytes of plain data.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}
