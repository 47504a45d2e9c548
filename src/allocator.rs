//! Process-wide allocator settings.

/// Makes freed buffers stay with the process for reuse.
///
/// Every layer of both networks allocates frame-sized buffers (tens of MB at 256x256 x4).
/// glibc serves each one with a fresh `mmap` and unmaps it on free, so every step pays
/// page faults and kernel page zeroing on all of them again; with mmap off and no heap
/// trimming they are recycled instead (a CPU training step about 25% faster, see
/// `faststyle bench --train`). The cost is that the process keeps its peak heap until it
/// exits, which a one-job command line tool can afford.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two of glibc's thresholds; callers set them at start-up.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
