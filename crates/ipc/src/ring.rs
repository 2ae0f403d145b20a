//! The server side of one libqb shared-memory ring buffer (ipc.md §2.3):
//! a header file holding the positions and a process-shared POSIX semaphore,
//! and a data file holding the chunks. The client maps the data twice
//! back-to-back; we map it once and copy wrapped chunks in two parts.
//!
//! The server never blocks on a semaphore: it only `sem_trywait`s after the
//! client's wake-up byte arrived on the setup socket, so shutdown is never
//! held up by a ring (DESIGN.md pitfall).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use thiserror::Error;

use crate::sigbus;

/// `sizeof(struct qb_ringbuffer_shared_s)` (8-byte aligned) on x86-64.
const SHARED_HDR_SIZE: usize = 8248;
/// The server creates every header with 4 bytes of user data (flow control).
const HEADER_FILE_SIZE: usize = SHARED_HDR_SIZE + 4;
const OFF_WRITE_PT: usize = 0;
const OFF_READ_PT: usize = 4;
const OFF_WORD_SIZE: usize = 8;
const OFF_HDR_PATH: usize = 12;
const OFF_DATA_PATH: usize = 4108;
const PATH_FIELD: usize = 4096;
const OFF_REF_COUNT: usize = 8204;
const OFF_SEM: usize = 8208;
const OFF_USER_DATA: usize = 8240;

const MAGIC_COMMITTED: u32 = 0xA1A1_A1A1;
const MAGIC_ALLOC: u32 = 0xA110_CED0;
const MAGIC_CONSUMED: u32 = 0xD0D0_D0D0;
/// Chunk header (2 words) + 1 word for the unaligned tail.
const CHUNK_MARGIN: usize = 12;

#[derive(Debug, Error)]
pub enum RingError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("ring size for max message size {0} is out of range")]
    Size(u32),
    #[error("ring path {0:?} is not a valid C string")]
    Path(PathBuf),
    #[error("ring is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("no space for a {0}-byte chunk")]
    Full(usize),
    #[error("semaphore: {0}")]
    Semaphore(io::Error),
}

struct Map {
    ptr: *mut u8,
    len: usize,
    guard: sigbus::Guard,
}

impl Map {
    fn new(fd: &OwnedFd, len: usize, path: &Path) -> Result<Map, RingError> {
        // SAFETY: a fresh shared mapping of a file we created and sized.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io_err("mmap", path));
        }
        // registered so that a client shrinking the file cannot SIGBUS us
        let guard = sigbus::protect(ptr.cast(), len);
        Ok(Map {
            ptr: ptr.cast(),
            len,
            guard,
        })
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        drop(std::mem::take(&mut self.guard));
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn io_err(what: &'static str, path: &Path) -> RingError {
    RingError::Io {
        what,
        path: path.to_owned(),
        source: io::Error::last_os_error(),
    }
}

/// Creates `path` exclusively, owned by the client with mode 0600, of `len` bytes.
fn create_file(path: &Path, len: usize, owner: (u32, u32)) -> Result<OwnedFd, RingError> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| RingError::Path(path.into()))?;
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: plain syscalls on a valid C string / our own fd.
    let raw = unsafe { libc::open(c.as_ptr(), flags, 0o600 as libc::c_uint) };
    if raw < 0 {
        return Err(io_err("create", path));
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // C libqb chowns the rings to the client so that e.g. www-data can map
    // them; like libqb, an unprivileged server (EPERM) goes on without.
    if unsafe { libc::fchown(raw, owner.0, owner.1) } != 0
        && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
    {
        let _ = std::fs::remove_file(path);
        return Err(io_err("chown", path));
    }
    if unsafe { libc::fchmod(raw, 0o600) } != 0
        || unsafe { libc::ftruncate(raw, len as libc::off_t) } != 0
    {
        let _ = std::fs::remove_file(path);
        return Err(io_err("size", path));
    }
    Ok(fd)
}

/// One ring buffer created by the server for one client.
pub struct Ring {
    hdr: Map,
    data: Map,
    word_size: u32,
    hdr_path: PathBuf,
    data_path: PathBuf,
}

// SAFETY: the mappings are process-wide memory; all access goes through
// `&self` methods used by the one connection thread that owns the ring.
unsafe impl Send for Ring {}

impl Ring {
    /// Size in bytes of the data file for a maximum message size: libqb adds
    /// the chunk margin and one byte, then rounds up to the page size.
    pub fn data_size(max_msg_size: u32) -> Option<usize> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()?
            .max(4096);
        let size = (max_msg_size as usize).checked_add(CHUNK_MARGIN + 1)?;
        let size = size.div_ceil(page).checked_mul(page)?;
        u32::try_from(size / 4).ok()?;
        Some(size)
    }

    /// Creates `<base>-header` and `<base>-data` (ipc.md §2.3).
    pub fn create(base: &str, max_msg_size: u32, owner: (u32, u32)) -> Result<Ring, RingError> {
        let data_len = Ring::data_size(max_msg_size).ok_or(RingError::Size(max_msg_size))?;
        let hdr_path = PathBuf::from(format!("{base}-header"));
        let data_path = PathBuf::from(format!("{base}-data"));
        for p in [&hdr_path, &data_path] {
            if p.as_os_str().len() >= PATH_FIELD {
                return Err(RingError::Path(p.clone()));
            }
        }
        let hdr_fd = create_file(&hdr_path, HEADER_FILE_SIZE, owner)?;
        let made = (|| {
            let hdr = Map::new(&hdr_fd, HEADER_FILE_SIZE, &hdr_path)?;
            let data_fd = create_file(&data_path, data_len, owner)?;
            let data = Map::new(&data_fd, data_len, &data_path).inspect_err(|_| {
                let _ = std::fs::remove_file(&data_path);
            })?;
            Ok::<_, RingError>((hdr, data))
        })();
        let (hdr, data) = made.inspect_err(|_| {
            let _ = std::fs::remove_file(&hdr_path);
        })?;
        let ring = Ring {
            hdr,
            data,
            word_size: (data_len / 4) as u32,
            hdr_path,
            data_path,
        };
        ring.init_header()?;
        Ok(ring)
    }

    fn init_header(&self) -> Result<(), RingError> {
        let h = self.hdr.ptr;
        // SAFETY: all offsets lie inside the header mapping (HEADER_FILE_SIZE)
        // and the file is fresh, so no client touches it yet.
        unsafe {
            std::ptr::write_bytes(h, 0, HEADER_FILE_SIZE);
            h.add(OFF_WORD_SIZE).cast::<u32>().write(self.word_size);
            let hp = self.hdr_path.as_os_str().as_encoded_bytes();
            std::ptr::copy_nonoverlapping(hp.as_ptr(), h.add(OFF_HDR_PATH), hp.len());
            let dp = self.data_path.as_os_str().as_encoded_bytes();
            std::ptr::copy_nonoverlapping(dp.as_ptr(), h.add(OFF_DATA_PATH), dp.len());
            h.add(OFF_REF_COUNT).cast::<i32>().write(1);
            h.add(OFF_USER_DATA).cast::<i32>().write(0);
            if libc::sem_init(self.sem(), 1, 0) != 0 {
                return Err(RingError::Semaphore(io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    fn sem(&self) -> *mut libc::sem_t {
        // SAFETY: inside the header mapping; 8-byte aligned offset.
        unsafe { self.hdr.ptr.add(OFF_SEM).cast() }
    }

    fn hdr_u32(&self, off: usize) -> &AtomicU32 {
        // SAFETY: aligned offset inside the header mapping, which lives as long as `self`.
        unsafe { AtomicU32::from_ptr(self.hdr.ptr.add(off).cast()) }
    }

    fn word(&self, idx: u32) -> &AtomicU32 {
        let idx = (idx % self.word_size) as usize;
        // SAFETY: idx < word_size, so the word lies inside the data mapping.
        unsafe { AtomicU32::from_ptr(self.data.ptr.add(idx * 4).cast()) }
    }

    /// Number of clients/servers holding the ring (the client requires 2).
    pub fn ref_count(&self) -> i32 {
        // SAFETY: aligned offset inside the header mapping.
        unsafe { AtomicI32::from_ptr(self.hdr.ptr.add(OFF_REF_COUNT).cast()) }
            .load(Ordering::Acquire)
    }

    /// Position after a chunk of `len` bytes starting at word `pt`.
    fn step(&self, pt: u32, len: u32) -> u32 {
        let next = u64::from(pt) + 2 + u64::from(len.div_ceil(4));
        (next % u64::from(self.word_size)) as u32
    }

    /// Copies between a message and the data area starting at word `start`,
    /// wrapping at the end of the file.
    fn copy(&self, start: u32, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) {
        let off = (start % self.word_size) as usize * 4;
        let first = len.min(self.data.len - off);
        // SAFETY: off + first ≤ data.len, and the rest (< data.len) starts at 0.
        f(unsafe { self.data.ptr.add(off) }, 0, first);
        if first < len {
            f(self.data.ptr, first, len - first);
        }
    }

    /// Takes the next committed chunk if the semaphore says there is one;
    /// never blocks. `max` bounds the accepted chunk length.
    pub fn try_read(&self, max: usize) -> Result<Option<Vec<u8>>, RingError> {
        loop {
            // SAFETY: the semaphore was initialised by `create`.
            if unsafe { libc::sem_trywait(self.sem()) } == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(None),
                Some(libc::EINTR) => continue,
                _ => return Err(RingError::Semaphore(e)),
            }
        }
        // Everything below is read once and bounds-checked: the client can
        // write any value into the shared memory at any time.
        let read_pt = self.hdr_u32(OFF_READ_PT).load(Ordering::Acquire);
        if read_pt >= self.word_size {
            return Err(RingError::Corrupt("read position out of range"));
        }
        if self.word(read_pt + 1).load(Ordering::Acquire) != MAGIC_COMMITTED {
            return Err(RingError::Corrupt("chunk not committed"));
        }
        let len = self.word(read_pt).load(Ordering::Relaxed);
        if len as usize > max || len as usize + 8 > self.data.len {
            return Err(RingError::Corrupt("chunk length out of range"));
        }
        let mut msg = vec![0u8; len as usize];
        let dst = msg.as_mut_ptr();
        // SAFETY: `copy` hands out in-bounds source ranges; dst has len bytes.
        self.copy(read_pt + 2, len as usize, |src, at, n| unsafe {
            std::ptr::copy_nonoverlapping(src, dst.add(at), n)
        });
        // reclaim: clear the header before moving the read position
        self.word(read_pt).store(0, Ordering::Relaxed);
        self.word(read_pt + 1)
            .store(MAGIC_CONSUMED, Ordering::Release);
        self.hdr_u32(OFF_READ_PT)
            .store(self.step(read_pt, len), Ordering::Release);
        Ok(Some(msg))
    }

    fn queued(&self) -> i32 {
        let mut v: libc::c_int = 0;
        // SAFETY: initialised semaphore, valid out pointer.
        unsafe { libc::sem_getvalue(self.sem(), &mut v) };
        v
    }

    /// Writes one chunk and posts the semaphore (libqb's `qb_rb_chunk_write`).
    pub fn write(&self, msg: &[u8]) -> Result<(), RingError> {
        let ws = self.word_size;
        let write_pt = self.hdr_u32(OFF_WRITE_PT).load(Ordering::Acquire);
        let read_pt = self.hdr_u32(OFF_READ_PT).load(Ordering::Acquire);
        if write_pt >= ws || read_pt >= ws {
            return Err(RingError::Corrupt("position out of range"));
        }
        let free_words = match write_pt.cmp(&read_pt) {
            std::cmp::Ordering::Greater => read_pt + ws - write_pt - 1,
            std::cmp::Ordering::Less => read_pt - write_pt - 1,
            std::cmp::Ordering::Equal if self.queued() > 0 => 0,
            std::cmp::Ordering::Equal => ws,
        };
        if (free_words as usize) * 4 < msg.len() + CHUNK_MARGIN {
            return Err(RingError::Full(msg.len()));
        }
        let len = u32::try_from(msg.len()).map_err(|_| RingError::Full(msg.len()))?;
        self.word(write_pt).store(0, Ordering::Relaxed);
        self.word(write_pt + 1)
            .store(MAGIC_ALLOC, Ordering::Release);
        let src = msg.as_ptr();
        // SAFETY: `copy` hands out in-bounds destination ranges; src has len bytes.
        self.copy(write_pt + 2, msg.len(), |dst, at, n| unsafe {
            std::ptr::copy_nonoverlapping(src.add(at), dst, n)
        });
        self.word(write_pt).store(len, Ordering::Relaxed);
        self.hdr_u32(OFF_WRITE_PT)
            .store(self.step(write_pt, len), Ordering::Release);
        self.word(write_pt + 1)
            .store(MAGIC_COMMITTED, Ordering::Release);
        // SAFETY: initialised semaphore.
        if unsafe { libc::sem_post(self.sem()) } != 0 {
            return Err(RingError::Semaphore(io::Error::last_os_error()));
        }
        Ok(())
    }

    pub fn header_path(&self) -> &Path {
        &self.hdr_path
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // ref_count ≠ 2 tells a still-running client that we are gone.
        // SAFETY: aligned offset inside the header mapping.
        unsafe { AtomicI32::from_ptr(self.hdr.ptr.add(OFF_REF_COUNT).cast()) }
            .store(0, Ordering::Release);
        // SAFETY: initialised semaphore; nobody in this process waits on it.
        unsafe { libc::sem_destroy(self.sem()) };
        let _ = std::fs::remove_file(&self.hdr_path);
        let _ = std::fs::remove_file(&self.data_path);
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
