//! bf16 GEMM on Intel AMX tiles (Sapphire Rapids and later), for training steps; on CPUs
//! with AVX512-BF16 but no tiles the same packed operands go through
//! [`super::dot_bf16`] instead.
//!
//! One `TDPBF16PS` multiplies a 16x32 bf16 tile by a 32x16 one into 16x16 f32 sums:
//! 16k multiply-adds, about 16 times what an AVX-512 core does with f32 in the same time.
//! Operands are rounded to bf16 (8 bits of mantissa) and summed in f32, which is what
//! mixed-precision training does on GPUs. Rust has no stable AMX intrinsics, so the few
//! tile instructions are written as inline assembly; everything else is plain Rust.
//!
//! Operands are first packed into whole tiles, zero-padded to multiples of 32 rows and
//! columns: A as 16-row x 32-deep tiles, B in the "VNNI" layout the instruction wants
//! (each tile row holds 16 columns' pairs of consecutive k).

use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this CPU can run [`gemm`]: it packs with AVX512-BF16 (which every AMX CPU has)
/// and multiplies on AMX tiles or with AVX512-BF16 dot products.
pub fn available() -> bool {
    is_x86_feature_detected!("avx512bf16") && is_x86_feature_detected!("avx512bw")
}

/// Whether [`gemm`] runs on AMX tiles: the CPU has AMX-BF16 and the kernel lets this
/// process use its tile state.
pub fn tiles_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| available() && cpu_has_amx_bf16() && request_tile_permission())
}

fn cpu_has_amx_bf16() -> bool {
    let max_leaf = std::arch::x86_64::__cpuid(0).eax;
    if max_leaf < 7 {
        return false;
    }
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    const AMX_BF16: u32 = 1 << 22;
    const AMX_TILE: u32 = 1 << 24;
    leaf7.edx & AMX_BF16 != 0 && leaf7.edx & AMX_TILE != 0
}

/// Linux hands out the 8 KiB of tile registers only on request (arch_prctl).
fn request_tile_permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

/// Tile rows and the bf16 values in one tile row.
pub(super) const ROWS: usize = 16;
pub(super) const DEPTH: usize = 32;
/// Elements in one packed tile.
pub(super) const TILE: usize = ROWS * DEPTH;
/// k blocks (of 32) per pass of the GEMM over its output.
pub(super) const K_SPAN: usize = 16;

/// Rounds to the nearest bf16, ties to even (what `VCVTNE2PS2BF16` does), for tests.
#[cfg(test)]
fn bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

fn blocks(n: usize, of: usize) -> usize {
    n.div_ceil(of)
}

/// Mask of the first `n` (at most 16) of 16 lanes.
fn lanes(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Loads the first `n` (if under 16) floats from `p` into 16 lanes, zeros after them.
///
/// # Safety
/// `p..p + n` must be readable; the CPU must have AVX-512.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn load(p: *const f32, n: usize) -> __m512 {
    unsafe { _mm512_maskz_loadu_ps(lanes(n), p) }
}

/// 32 floats (`lo` then `hi`) as 32 bf16 in that order.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn to_bf16(lo: __m512, hi: __m512) -> __m512i {
    unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)) }
}

/// The left operand (m x k) as bf16 tiles: `[m block][k block][16 rows][32 k]`, with the
/// number of m blocks rounded up to even so the kernel always has two.
pub struct PackedA {
    m: usize,
    k: usize,
    pub(super) m_blocks: usize,
    pub(super) k_blocks: usize,
    pub(super) data: Vec<u16>,
}

impl PackedA {
    /// Packs `src[i * rs + j]`, i < m, j < k (rows of contiguous values).
    ///
    /// # Safety
    /// Every such element must be readable, and [`available`] true.
    pub unsafe fn new(m: usize, k: usize, src: *const f32, rs: usize) -> Self {
        let m_blocks = blocks(m, 2 * ROWS) * 2;
        let k_blocks = blocks(k, DEPTH);
        let mut data = vec![0; m_blocks * k_blocks * TILE];
        // SAFETY: the caller's matrix is readable; `data` holds every packed tile.
        unsafe { pack_rows(m, k, src, rs, m_blocks, k_blocks, data.as_mut_ptr()) };
        PackedA {
            m,
            k,
            m_blocks,
            k_blocks,
            data,
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_rows(
    m: usize,
    k: usize,
    src: *const f32,
    rs: usize,
    m_blocks: usize,
    k_blocks: usize,
    dst: *mut u16,
) {
    for i in 0..m_blocks * ROWS {
        let (mb, r) = (i / ROWS, i % ROWS);
        for kb in 0..k_blocks {
            let j = kb * DEPTH;
            let v = if i < m {
                let row = unsafe { src.add(i * rs + j) };
                let left = k - j;
                unsafe { to_bf16(load(row, left), load(row.add(16), left.saturating_sub(16))) }
            } else {
                _mm512_setzero_si512()
            };
            let at = ((mb * k_blocks + kb) * ROWS + r) * DEPTH;
            unsafe { _mm512_storeu_si512(dst.add(at) as *mut __m512i, v) };
        }
    }
}

/// Where a packing reads a matrix from, 16 consecutive values of one row at a time.
pub enum Rows<'a> {
    /// Row j is `src[j * rs..][..n]`.
    Dense {
        src: *const f32,
        rs: usize,
        n: usize,
    },
    /// The im2col matrix of a stride-1 convolution, read from the padded image itself.
    Patches(&'a PatchMap),
}

/// A run of lanes `lane0..lane1` of a 16-column group that is contiguous in the image.
#[derive(Clone, Copy)]
struct Segment {
    lane0: u8,
    lane1: u8,
    offset: usize,
}

/// The im2col matrix of a stride-1 convolution over output rows `oy0..oy1` of one padded
/// image, never stored: row j = (ci, ky, kx) is the image shifted by (ky, kx) in plane ci,
/// column c the output pixel (oy0 + c / wo, c % wo). A group of 16 columns is one or more
/// runs of consecutive pixels, each loaded with one masked load.
pub struct PatchMap {
    image: *const f32,
    row_offsets: Vec<usize>,
    segments: Vec<Segment>,
    /// Group g's segments are `segments[group_start[g]..group_start[g + 1]]`.
    group_start: Vec<usize>,
    /// Group g's offset where it is one run of all 16 lanes (most groups), else `PARTIAL`.
    whole: Vec<usize>,
}

const PARTIAL: usize = usize::MAX;

impl PatchMap {
    /// # Safety
    /// `image` must hold `c_in` planes of hp x wp floats, and the kernel fit in them.
    pub unsafe fn new(
        image: *const f32,
        (c_in, kernel): (usize, usize),
        (hp, wp): (usize, usize),
        wo: usize,
        (oy0, oy1): (usize, usize),
    ) -> Self {
        let row_offsets = (0..c_in * kernel * kernel)
            .map(|j| (j / (kernel * kernel)) * hp * wp + (j / kernel % kernel) * wp + j % kernel)
            .collect();
        let n = (oy1 - oy0) * wo;
        let (mut segments, mut group_start) = (Vec::new(), vec![0]);
        for g0 in (0..n).step_by(ROWS) {
            let mut c = g0;
            while c < n.min(g0 + ROWS) {
                let (oy, ox) = (oy0 + c / wo, c % wo);
                let run = (wo - ox).min(g0 + ROWS - c);
                segments.push(Segment {
                    lane0: (c - g0) as u8,
                    lane1: (c - g0 + run) as u8,
                    offset: oy * wp + ox,
                });
                c += run;
            }
            group_start.push(segments.len());
        }
        let whole = group_start
            .windows(2)
            .map(|g| match &segments[g[0]..g[1]] {
                [s] if s.lane0 == 0 && s.lane1 as usize == ROWS => s.offset,
                _ => PARTIAL,
            })
            .collect();
        PatchMap {
            image,
            row_offsets,
            segments,
            group_start,
            whole,
        }
    }

    /// Lanes 0..16 of group `g` of the row whose image starts at `base` (zeros past the
    /// last group).
    ///
    /// # Safety
    /// `base` must be `image` plus one of `row_offsets`, and the CPU have AVX-512.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[inline]
    unsafe fn load16(&self, base: *const f32, g: usize) -> __m512 {
        if let Some(&offset) = self.whole.get(g)
            && offset != PARTIAL
        {
            // SAFETY: the group's 16 pixels are consecutive in the row's plane.
            return unsafe { _mm512_loadu_ps(base.add(offset)) };
        }
        let mut v = _mm512_setzero_ps();
        let (s0, s1) = match self.group_start.get(g + 1) {
            Some(end) => (self.group_start[g], *end),
            None => (0, 0),
        };
        for seg in &self.segments[s0..s1] {
            let mask = lanes(seg.lane1 as usize) & !lanes(seg.lane0 as usize);
            // Lane l reads pixel offset + l - lane0; the masked-off lanes read nothing.
            let p = base
                .wrapping_add(seg.offset)
                .wrapping_sub(seg.lane0 as usize);
            v = unsafe { _mm512_mask_loadu_ps(v, mask, p) };
        }
        v
    }

    /// Where row j's image starts.
    fn base(&self, j: usize) -> *const f32 {
        self.image.wrapping_add(self.row_offsets[j])
    }
}

impl Rows<'_> {
    /// Lanes 0..16 of row `j` from column `16 * g` (zeros past the row's end).
    ///
    /// # Safety
    /// j must be a row of the matrix, and the CPU have AVX-512.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[inline]
    unsafe fn load16(&self, j: usize, g: usize) -> __m512 {
        match *self {
            Rows::Dense { src, rs, n } => unsafe {
                load(src.add(j * rs + g * ROWS), n.saturating_sub(g * ROWS))
            },
            // SAFETY: row j's base is one of the map's rows.
            Rows::Patches(map) => unsafe { map.load16(map.base(j), g) },
        }
    }
}

/// The right operand (k x n) as VNNI bf16 tiles: `[n block][k block][16 k-pairs][16 n][2]`,
/// n blocks rounded up to even. The buffer is kept between packings.
#[derive(Default)]
pub struct PackedB {
    n: usize,
    k: usize,
    pub(super) n_blocks: usize,
    pub(super) data: Vec<u16>,
}

impl PackedB {
    fn reset(&mut self, k: usize, n: usize) -> *mut u16 {
        self.n = n;
        self.k = k;
        self.n_blocks = blocks(n, 2 * ROWS) * 2;
        let len = self.n_blocks * blocks(k, DEPTH) * TILE;
        // Grown only: the packing functions overwrite every element they use.
        if self.data.len() < len {
            self.data.resize(len, 0);
        }
        self.data.as_mut_ptr()
    }

    /// Packs B[i][j] = row i of `rows` at column j, i < k, j < n.
    ///
    /// # Safety
    /// `rows` must have k rows of n readable values, and [`available`] be true.
    pub unsafe fn pack_rows(&mut self, k: usize, n: usize, rows: &Rows) {
        let dst = self.reset(k, n);
        unsafe { pack_row_pairs(k, self.n_blocks, rows, dst) };
    }

    /// Packs B[i][j] = row j of `rows` at column i (the transpose), i < k, j < n.
    ///
    /// # Safety
    /// `rows` must have n rows of k readable values, and [`available`] be true.
    pub unsafe fn pack_columns(&mut self, k: usize, n: usize, rows: &Rows) {
        let dst = self.reset(k, n);
        unsafe { pack_transposed(k, n, self.n_blocks, rows, dst) };
    }
}

/// VNNI packing from rows: rows 2p and 2p+1 interleaved, 16 columns at a time.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_row_pairs(k: usize, n_blocks: usize, rows: &Rows, dst: *mut u16) {
    // Lane 2c takes row 2p's column c (lane c of the converted pair), lane 2c+1 row 2p+1's.
    let interleave = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    );
    let k_blocks = blocks(k, DEPTH);
    let panel = k_blocks * TILE;
    for pair in 0..k_blocks * ROWS {
        let i = 2 * pair;
        let (kb, p) = (pair / ROWS, pair % ROWS);
        let at = |nb: usize| nb * panel + kb * TILE + p * DEPTH;
        if let Rows::Patches(map) = rows
            && i + 1 < k
        {
            // The two rows' starts once, not per group: this loop is most of the packing.
            let (r0, r1) = (map.base(i), map.base(i + 1));
            for nb in 0..n_blocks {
                // SAFETY: both rows are the map's; `at` lies in the packed panel.
                unsafe {
                    let pair = to_bf16(map.load16(r0, nb), map.load16(r1, nb));
                    let v = _mm512_permutexvar_epi16(interleave, pair);
                    _mm512_storeu_si512(dst.add(at(nb)) as *mut __m512i, v);
                }
            }
            continue;
        }
        for nb in 0..n_blocks {
            let row = |r: usize| {
                if r < k {
                    unsafe { rows.load16(r, nb) }
                } else {
                    _mm512_setzero_ps()
                }
            };
            let v = unsafe { _mm512_permutexvar_epi16(interleave, to_bf16(row(i), row(i + 1))) };
            unsafe { _mm512_storeu_si512(dst.add(at(nb)) as *mut __m512i, v) };
        }
    }
}

/// VNNI packing from the transpose: a row's 32 consecutive values are one B column's 16
/// k-pairs, one per tile row.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_transposed(k: usize, n: usize, n_blocks: usize, rows: &Rows, dst: *mut u16) {
    let k_blocks = blocks(k, DEPTH);
    let panel = k_blocks * TILE;
    let mut pairs = [0u32; ROWS];
    for nb in 0..n_blocks {
        for kb in 0..k_blocks {
            let tile = unsafe { dst.add(nb * panel + kb * TILE) as *mut u32 };
            for c in 0..ROWS {
                let j = nb * ROWS + c;
                let v = if j < n {
                    unsafe { to_bf16(rows.load16(j, 2 * kb), rows.load16(j, 2 * kb + 1)) }
                } else {
                    _mm512_setzero_si512()
                };
                unsafe { _mm512_storeu_si512(pairs.as_mut_ptr() as *mut __m512i, v) };
                for (p, pair) in pairs.iter().enumerate() {
                    unsafe { *tile.add(p * ROWS + c) = *pair };
                }
            }
        }
    }
}

/// The tile configuration: C0..C3 are 16x16 f32, A0, A1 16x32 bf16, B0, B1 16 pairs x 16.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// Tests set this to run the AVX512-BF16 kernel on a CPU with tiles too.
static FORCE_DOT_PRODUCTS: AtomicBool = AtomicBool::new(false);

/// dst[m x n] (+)= a * b, dst rows `dst_rs` apart.
///
/// # Safety
/// [`available`] must be true, `a.k == b.k`, and dst must hold m rows of n writable floats.
pub unsafe fn gemm(a: &PackedA, b: &PackedB, dst: *mut f32, dst_rs: usize, accumulate: bool) {
    assert_eq!(a.k, b.k, "GEMM operands disagree on depth");
    // SAFETY: `available` (the caller's promise) covers both kernels' instructions.
    unsafe {
        if tiles_available() && !FORCE_DOT_PRODUCTS.load(Ordering::Relaxed) {
            tile_product(a, b, dst, dst_rs, accumulate);
        } else {
            // The sums of the whole (padded) product, f32, row-major.
            let cols_padded = b.n_blocks * ROWS;
            let mut sums = vec![0f32; a.m_blocks * ROWS * cols_padded];
            super::dot_bf16::add_product(a, b, &mut sums, cols_padded);
            write_out(&sums, cols_padded, a.m, b.n, dst, dst_rs, accumulate);
        }
    }
}

/// The four 16x16 sums C0..C3 of a 2x2 block of output tiles plus `a0`/`a1` (two row
/// blocks of A) times `b0`/`b1` (two column blocks of B) over k blocks `k0..k1`; C0..C3 are
/// in tile registers tmm0..tmm3 before and after.
///
/// # Safety
/// The tile configuration must be [`CONFIG`], and the panels hold k blocks `k0..k1`.
#[inline(always)]
unsafe fn tile_span(
    a0: *const u16,
    a1: *const u16,
    b0: *const u16,
    b1: *const u16,
    k0: usize,
    k1: usize,
) {
    const STRIDE: usize = 2 * DEPTH; // bytes per packed tile row
    for kb in k0..k1 {
        let off = kb * TILE;
        // SAFETY: each tile load reads 16 rows of 64 bytes inside a packed panel.
        unsafe {
            asm!(
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {s}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {s}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0.add(off),
                a1 = in(reg) a1.add(off),
                b0 = in(reg) b0.add(off),
                b1 = in(reg) b1.add(off),
                s = in(reg) STRIDE,
                options(nostack, readonly)
            )
        };
    }
}

/// Loads C0..C3 (tmm0..tmm3), the 32x32 floats at `c` with rows `rs` floats apart.
///
/// # Safety
/// The tile configuration must be [`CONFIG`] and the 32 rows of 32 floats readable.
#[inline(always)]
unsafe fn load_sums(c: *const f32, rs: usize) {
    let [c0, c1, c2, c3] = sum_tiles(c as *mut f32, rs);
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tileloadd tmm0, [{c0} + {s}*1]",
            "tileloadd tmm1, [{c1} + {s}*1]",
            "tileloadd tmm2, [{c2} + {s}*1]",
            "tileloadd tmm3, [{c3} + {s}*1]",
            c0 = in(reg) c0,
            c1 = in(reg) c1,
            c2 = in(reg) c2,
            c3 = in(reg) c3,
            s = in(reg) rs * 4,
            options(nostack, readonly)
        )
    };
}

/// Where C0..C3 of the 32x32 floats at `c` (rows `rs` floats apart) start.
#[inline(always)]
fn sum_tiles(c: *mut f32, rs: usize) -> [*mut f32; 4] {
    let below = c.wrapping_add(ROWS * rs);
    [c, c.wrapping_add(ROWS), below, below.wrapping_add(ROWS)]
}

/// Zeros C0..C3 (tmm0..tmm3).
///
/// # Safety
/// The tile configuration must be [`CONFIG`].
#[inline(always)]
unsafe fn zero_sums() {
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        )
    };
}

/// Stores C0..C3 (tmm0..tmm3) to the 32x32 floats at `c`, rows `rs` floats apart.
///
/// # Safety
/// The tile configuration must be [`CONFIG`] and the 32 rows of 32 floats writable.
#[inline(always)]
unsafe fn store_sums(c: *mut f32, rs: usize) {
    let [c0, c1, c2, c3] = sum_tiles(c, rs);
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c1} + {s}*1], tmm1",
            "tilestored [{c2} + {s}*1], tmm2",
            "tilestored [{c3} + {s}*1], tmm3",
            c0 = in(reg) c0,
            c1 = in(reg) c1,
            c2 = in(reg) c2,
            c3 = in(reg) c3,
            s = in(reg) rs * 4,
            options(nostack)
        )
    };
}

/// dst (+)= a * b on AMX tiles. The 32x32 output blocks that lie wholly inside dst are
/// summed in dst itself (no scratch matrix to zero and copy out); the few on its right and
/// bottom edges go through a 32x32 scratch block, whole depth at once.
///
/// # Safety
/// [`tiles_available`] must be true and dst hold a.m rows of b.n floats, `dst_rs` apart.
unsafe fn tile_product(a: &PackedA, b: &PackedB, dst: *mut f32, dst_rs: usize, accumulate: bool) {
    let k_blocks = a.k_blocks;
    let panel = k_blocks * TILE;
    let (m, n) = (a.m, b.n);
    // Whole 32x32 blocks.
    let (m_inner, n_inner) = (m / (2 * ROWS) * 2, n / (2 * ROWS) * 2);
    let (pa, pb) = (a.data.as_ptr(), b.data.as_ptr());
    // SAFETY (whole block): the configuration is valid on AMX CPUs; panels hold every k
    // block of their row or column block; inner blocks lie inside dst, edge blocks are
    // summed in `edge` and only their parts inside dst are read and written.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack));
        // The depth goes in spans, so that a span of all of A (m x 512 bf16) stays in L2
        // while every column block passes over it; the sums go to dst between spans.
        for k0 in (0..k_blocks).step_by(K_SPAN) {
            let k1 = (k0 + K_SPAN).min(k_blocks);
            for nb in (0..n_inner).step_by(2) {
                for mb in (0..m_inner).step_by(2) {
                    let c = dst.add(mb * ROWS * dst_rs + nb * ROWS);
                    if k0 > 0 || accumulate {
                        load_sums(c, dst_rs);
                    } else {
                        zero_sums();
                    }
                    let (a0, b0) = (pa.add(mb * panel), pb.add(nb * panel));
                    tile_span(a0, a0.add(panel), b0, b0.add(panel), k0, k1);
                    store_sums(c, dst_rs);
                }
            }
        }
        let mut edge = [0f32; 4 * ROWS * ROWS];
        for nb in (0..b.n_blocks).step_by(2) {
            for mb in (0..a.m_blocks).step_by(2) {
                if nb < n_inner && mb < m_inner {
                    continue;
                }
                let rows = m.saturating_sub(mb * ROWS).min(2 * ROWS);
                let cols = n.saturating_sub(nb * ROWS).min(2 * ROWS);
                if rows == 0 || cols == 0 {
                    continue;
                }
                let c = dst.add(mb * ROWS * dst_rs + nb * ROWS);
                edge.fill(0.0);
                if accumulate {
                    for r in 0..rows {
                        std::ptr::copy_nonoverlapping(
                            c.add(r * dst_rs),
                            edge.as_mut_ptr().add(r * 2 * ROWS),
                            cols,
                        );
                    }
                }
                load_sums(edge.as_ptr(), 2 * ROWS);
                let (a0, b0) = (pa.add(mb * panel), pb.add(nb * panel));
                tile_span(a0, a0.add(panel), b0, b0.add(panel), 0, k_blocks);
                store_sums(edge.as_mut_ptr(), 2 * ROWS);
                for r in 0..rows {
                    std::ptr::copy_nonoverlapping(
                        edge.as_ptr().add(r * 2 * ROWS),
                        c.add(r * dst_rs),
                        cols,
                    );
                }
            }
        }
        asm!("tilerelease", options(nostack));
    }
}

/// Adds or copies the first m rows and n columns of `sums` into dst.
#[target_feature(enable = "avx512f")]
unsafe fn write_out(
    sums: &[f32],
    cols_padded: usize,
    m: usize,
    n: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
) {
    for (r, row) in sums.chunks(cols_padded).take(m).enumerate() {
        // SAFETY: the caller's dst holds m rows of n floats, dst_rs apart.
        let d = unsafe { std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n) };
        if accumulate {
            d.iter_mut().zip(row).for_each(|(d, s)| *d += s);
        } else {
            d.copy_from_slice(&row[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and the next bf16: ties go to the even mantissa.
        assert_eq!(bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(bf16(-2.5), 0xc020);
    }

    #[test]
    fn gemm_matches_f32_within_bf16_rounding() {
        if !available() {
            eprintln!("SKIPPED: this CPU has no AVX512-BF16");
            return;
        }
        if tiles_available() {
            check_gemm();
            // The dot-product kernel, which the AMD CPUs run, on the same cases.
            FORCE_DOT_PRODUCTS.store(true, Ordering::Relaxed);
            check_gemm();
            FORCE_DOT_PRODUCTS.store(false, Ordering::Relaxed);
        } else {
            eprintln!("no AMX tiles: the AVX512-BF16 kernel only");
            check_gemm();
        }
    }

    fn check_gemm() {
        // Odd sizes exercise every padded edge; strided operands both layouts.
        for &(m, n, k, transposed) in &[
            (1, 1, 1, false),
            (3, 17, 5, false),
            (33, 70, 100, true),
            (64, 129, 577, false),
            (7, 40, 64, true),
            // Several whole 32x32 blocks each way, over three spans of the depth.
            (96, 70, 1100, true),
        ] {
            let a = values(m * k, 1);
            // Room for the first, larger packing below.
            let b = values((k + 2) * (n + 6), 2);
            let (b_rs, b_cs) = if transposed { (1, k) } else { (n, 1) };
            let pa = unsafe { PackedA::new(m, k, a.as_ptr(), k) };
            let mut pb = PackedB::default();
            // Packed twice: the second reuses the first's buffer.
            for (k, n) in [(k + 1, n + 5), (k, n)] {
                unsafe {
                    if transposed {
                        pb.pack_columns(
                            k,
                            n,
                            &Rows::Dense {
                                src: b.as_ptr(),
                                rs: b_cs,
                                n: k,
                            },
                        );
                    } else {
                        pb.pack_rows(
                            k,
                            n,
                            &Rows::Dense {
                                src: b.as_ptr(),
                                rs: b_rs,
                                n,
                            },
                        );
                    }
                }
            }
            for accumulate in [true, false] {
                check_product(&a, &b, (b_rs, b_cs), (m, n, k), &pa, &pb, accumulate);
            }
        }
    }

    /// Runs `gemm` into a matrix of 0.5 with a wider row than n and checks every element.
    fn check_product(
        a: &[f32],
        b: &[f32],
        (b_rs, b_cs): (usize, usize),
        (m, n, k): (usize, usize, usize),
        pa: &PackedA,
        pb: &PackedB,
        accumulate: bool,
    ) {
        let dst_rs = n + 3;
        let mut c = vec![0.5f32; m * dst_rs];
        unsafe { gemm(pa, pb, c.as_mut_ptr(), dst_rs, accumulate) };
        let start = if accumulate { 0.5 } else { 0.0 };
        for i in 0..m {
            for j in 0..dst_rs {
                let got = c[i * dst_rs + j];
                if j >= n {
                    assert_eq!(got, 0.5, "wrote outside the matrix");
                    continue;
                }
                let (mut exact, mut scale) = (start, 0f64);
                for l in 0..k {
                    let p = a[i * k + l] as f64 * b[l * b_rs + j * b_cs] as f64;
                    exact += p;
                    scale += p.abs();
                }
                // Each operand carries a relative error under 2^-8.
                let tol = scale * 2.0 * 2f64.powi(-8) + 1e-5;
                assert!(
                    (got as f64 - exact).abs() <= tol,
                    "{m}x{n}x{k}: ({i},{j}) = {got}, want {exact} ± {tol}"
                );
            }
        }
    }
}
