//! Protection against SIGBUS from shrunk ring files.
//!
//! The ring files belong to the client (ipc.md §2.2: libqb chowns them so
//! that e.g. www-data can map them), so a client can truncate them while we
//! have them mapped; touching a page beyond the new end of file raises
//! SIGBUS, which would kill the daemon (C pmxcfs has this weakness). We keep
//! a table of our ring mappings; a SIGBUS inside one of them replaces the
//! faulting page with a private zero page and lets the access go on. The
//! ring code then sees zeros (no committed chunk, bad magic) and drops the
//! connection. A SIGBUS anywhere else goes to the previous handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Room for 6 mappings per connection at well over the default limit.
const SLOTS: usize = 16_384;
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A registered mapping; dropping it unregisters (do it before the munmap).
#[derive(Default)]
pub(crate) struct Guard(Option<usize>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            STARTS[i].store(0, Ordering::Release);
        }
    }
}

/// Registers `[start, start + len)`; without a free slot the mapping is
/// simply unprotected.
pub(crate) fn protect(start: *mut u8, len: usize) -> Guard {
    install();
    let start = start as usize;
    for i in 0..SLOTS {
        if STARTS[i].load(Ordering::Relaxed) != 0 {
            continue;
        }
        // publish the length before the start the handler keys on
        LENS[i].store(len, Ordering::Release);
        if STARTS[i]
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Guard(Some(i));
        }
    }
    tracing::warn!("IPC SIGBUS table full; ring mapping not protected");
    Guard(None)
}

fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: a zeroed sigaction is valid; we fill handler, flags, mask.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_sigbus;
        new.sa_sigaction = handler as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: valid pointers; installing a handler for SIGBUS.
        unsafe {
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, &new, &mut old);
        }
        old
    });
}

/// Only async-signal-safe work: atomics, mmap, sigaction.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    for i in 0..SLOTS {
        let start = STARTS[i].load(Ordering::Acquire);
        if start != 0 && addr >= start && addr - start < LENS[i].load(Ordering::Acquire) {
            let page = addr & !(PAGE.load(Ordering::Relaxed) - 1);
            // SAFETY: replaces one page of our own shared mapping with a
            // private zero page; the faulting access is then retried.
            let p = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    PAGE.load(Ordering::Relaxed),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                return;
            }
        }
    }
    chain(sig, info, ctx);
}

/// Hands a SIGBUS that is not ours to whoever handled it before us (Rust's
/// runtime installs one for stack overflows), else restores the default so
/// the retried access kills the process as usual.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let previous = PREVIOUS.get().copied();
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the default disposition.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
        }
        return;
    }
    let flags = previous.map_or(0, |p| p.sa_flags);
    // SAFETY: calling the previously installed handler with its own signature.
    unsafe {
        if flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}
