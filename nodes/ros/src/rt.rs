//! Memory behaviour for the pipeline's processes.

/// Keep glibc's allocator from handing memory back to the kernel and from serving large blocks
/// with fresh mappings, as real-time ROS 2 processes are set up (the `rttest` /
/// `realtime_support` recipe): the LiDAR stages allocate buffers of a few MB per sweep, which
/// glibc otherwise maps and unmaps (or trims off the heap) every cycle, so every page of them
/// faults in again; on a 120k-point sweep that is about 2 ms of a 10 ms cycle. The cost is that
/// the process keeps its peak heap. The processes that run the fusion call this (the fusion
/// node, the one-process container, `edgefuse replay` and `edgefuse demo`); the standalone
/// HMI node and `edgefuse llm`, whose resident set is a figure of its own, do not. glibc only;
/// a no-op elsewhere.
pub fn keep_heap_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes glibc's policy for later allocations; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
