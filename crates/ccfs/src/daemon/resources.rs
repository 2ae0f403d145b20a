//! What the daemon's process needs so that hostile local clients cannot
//! exhaust it: open files for the connections, and memory given back.
//!
//! Open files for the local sockets' connections. Each IPC or control
//! connection costs one descriptor; at the limit of open files `accept`
//! fails with EMFILE for everyone, root included, which would undo the
//! slots the connection limits keep for root (`ccfs_admission`). So the
//! soft limit is raised towards the hard one (systemd starts services with
//! a soft limit of 1024, less than the IPC limit alone), and when even the
//! hard limit is short the IPC limit is lowered to fit, with a warning: a
//! refused client then gets EAGAIN and root still its reserved slots.

/// Descriptors kept for everything else: FUSE, SQLite, the journal, export
/// and snapshot mounts, corosync, the metrics endpoint, logging.
const OTHER_FILES: u64 = 256;

/// The IPC connection limit that fits next to `control` control-socket
/// connections, after raising the soft limit of open files if need be.
pub(super) fn ipc_connections(wanted: usize, control: usize) -> usize {
    let need = (wanted + control) as u64 + OTHER_FILES;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return wanted;
    }
    if lim.rlim_cur < need {
        let raised = libc::rlimit {
            rlim_cur: need.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: plain syscall with a valid struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    if lim.rlim_cur >= need {
        return wanted;
    }
    let fits = lim.rlim_cur.saturating_sub(control as u64 + OTHER_FILES) as usize;
    let fits = fits.clamp(1, wanted);
    tracing::warn!(
        open_files = lim.rlim_cur,
        "the limit of open files ({}) is too low for {wanted} IPC connections: \
         serving at most {fits} (raise LimitNOFILE)",
        lim.rlim_cur
    );
    fits
}

/// Buffers at least this large come from their own mapping and go back to
/// the kernel when freed.
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// An IPC client may send requests of up to 16 MiB, which the daemon
/// copies out of its ring. glibc's malloc raises its mmap threshold to the
/// size of the largest block freed, so after one such request the next
/// ones come from the calling thread's arena and stay resident there for
/// good (16 MiB per arena, up to 8 arenas per core: measured 16 MiB kept
/// after a single request). A fixed threshold turns that adjustment off:
/// big buffers are mapped and unmapped, and the resident size returns to
/// what it was once the client is gone.
pub(super) fn give_big_buffers_back() {
    // SAFETY: mallopt only sets a tunable of glibc's allocator.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } != 1 {
        tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused");
    }
}
