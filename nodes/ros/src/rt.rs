//! Memory and scheduling behaviour for the pipeline's processes.

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

/// Puts the calling thread in the `SCHED_FIFO` real-time class at `priority` (1 to 99), as a
/// real-time ROS 2 executor thread is set up: the thread then runs whenever it is ready, ahead
/// of every normal thread (DDS receive threads, ingest nodes, other processes), so that a
/// fusion cycle is not time-sliced with them. Threads it starts afterwards inherit the class.
/// The kernel's real-time throttling (by default 95 % of each second) still bounds it. Needs
/// `CAP_SYS_NICE` or an `rtprio` limit; the error says why when it is refused. Linux only.
pub fn realtime_thread(priority: i32) -> std::io::Result<()> {
    if !(1..=99).contains(&priority) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("real-time priority {priority} is outside 1..=99"),
        ));
    }
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        #[allow(unsafe_code)]
        // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is the calling
        // thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "real-time scheduling is only set on Linux",
        ))
    }
}
