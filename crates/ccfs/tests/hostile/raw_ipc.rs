//! A libqb client written by hand (ipc.md §2): the setup socket, the
//! connection request, and the rings mapped and written directly, so a
//! test can do what no well-behaved client does: stall in the handshake,
//! claim chunks larger than the ring, never read its responses.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ccfs_ipc::frame::{
    ConnectionRequest, ConnectionResponse, CONNECTION_REQUEST_SIZE, CONNECTION_RESPONSE_SIZE,
};

// The ring layout of libqb on x86-64 (ipc.md §2.3, crates/ipc/src/ring.rs).
const OFF_WRITE_PT: usize = 0;
const OFF_READ_PT: usize = 4;
const OFF_WORD_SIZE: usize = 8;
const OFF_SEM: usize = 8208;
const HEADER_FILE_SIZE: usize = 8252;
const MAGIC_COMMITTED: u32 = 0xA1A1_A1A1;
const MAGIC_CONSUMED: u32 = 0xD0D0_D0D0;

/// A connected setup socket (nothing sent yet), blocking, with a read
/// timeout so that no test waits for ever.
pub fn connect(name: &str) -> UnixStream {
    let (addr, len) = ccfs_ipc::socket::abstract_address(name).unwrap();
    // SAFETY: plain system calls; the fd is owned at once.
    let fd = unsafe {
        let raw = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(raw)
    };
    let s = UnixStream::from(fd);
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    let rc = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    assert_eq!(
        rc,
        0,
        "connect @{name}: {}",
        std::io::Error::last_os_error()
    );
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends the connection request and reads the answer.
pub fn handshake(s: &mut UnixStream, max_msg_size: u32) -> std::io::Result<ConnectionResponse> {
    let req = ConnectionRequest { max_msg_size }.encode();
    assert_eq!(req.len(), CONNECTION_REQUEST_SIZE);
    s.write_all(&req)?;
    let mut buf = vec![0u8; CONNECTION_RESPONSE_SIZE];
    s.read_exact(&mut buf)?;
    ConnectionResponse::decode(&buf).map_err(std::io::Error::other)
}

/// Whether the daemon closed `s` (end of stream) within `secs`; bytes it
/// sends first are skipped.
pub fn closed_within(s: &mut UnixStream, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {}
        }
    }
    false
}

/// Whether the daemon closed `s` already (no waiting).
pub fn closed_now(s: &mut UnixStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// One shared mapping of a ring file.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn open(path: &str, len: usize) -> Map {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: a shared mapping of a file at least `len` bytes long.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&f),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap {path}");
        Map {
            ptr: ptr.cast(),
            len,
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The client's side of one ring (the daemon made the files).
pub struct Ring {
    hdr: Map,
    data: Map,
    words: u32,
}

// The mappings are plain shared memory; the test uses a ring from one
// thread at a time.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps `<base>-header` and `<base>-data`.
    pub fn open(base: &str) -> Ring {
        let hdr = Map::open(&format!("{base}-header"), HEADER_FILE_SIZE);
        // SAFETY: aligned offset inside the header mapping.
        let words = unsafe { hdr.ptr.add(OFF_WORD_SIZE).cast::<u32>().read_volatile() };
        let data = Map::open(&format!("{base}-data"), words as usize * 4);
        Ring { hdr, data, words }
    }

    fn hdr(&self, off: usize) -> &AtomicU32 {
        // SAFETY: aligned offsets inside the header mapping.
        unsafe { AtomicU32::from_ptr(self.hdr.ptr.add(off).cast()) }
    }

    fn word(&self, i: u32) -> &AtomicU32 {
        // SAFETY: the index is reduced into the data mapping.
        unsafe { AtomicU32::from_ptr(self.data.ptr.add((i % self.words) as usize * 4).cast()) }
    }

    fn sem(&self) -> *mut libc::sem_t {
        // SAFETY: inside the header mapping.
        unsafe { self.hdr.ptr.add(OFF_SEM).cast() }
    }

    /// The largest chunk the ring can hold.
    pub fn capacity(&self) -> usize {
        self.words as usize * 4 - 12
    }

    /// Writes a committed chunk whose header claims `claimed` bytes and
    /// holds `bytes` (the same, unless the test lies), and posts the
    /// semaphore. False when there is no room.
    pub fn write_claiming(&self, bytes: &[u8], claimed: u32) -> bool {
        let wp = self.hdr(OFF_WRITE_PT).load(Ordering::Acquire);
        let rp = self.hdr(OFF_READ_PT).load(Ordering::Acquire);
        let free = if wp >= rp {
            rp + self.words - wp - 1
        } else {
            rp - wp - 1
        };
        if (free as usize) * 4 < bytes.len() + 12 {
            return false;
        }
        for (i, c) in bytes.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            self.word(wp + 2 + i as u32)
                .store(u32::from_le_bytes(w), Ordering::Relaxed);
        }
        self.word(wp).store(claimed, Ordering::Relaxed);
        let next = (u64::from(wp) + 2 + bytes.len().div_ceil(4) as u64) % u64::from(self.words);
        self.hdr(OFF_WRITE_PT).store(next as u32, Ordering::Release);
        self.word(wp + 1).store(MAGIC_COMMITTED, Ordering::Release);
        // SAFETY: the daemon initialised the semaphore (process-shared).
        assert_eq!(unsafe { libc::sem_post(self.sem()) }, 0);
        true
    }

    pub fn write(&self, bytes: &[u8]) -> bool {
        self.write_claiming(bytes, bytes.len() as u32)
    }

    /// The next chunk, waiting up to `secs`.
    pub fn read(&self, secs: u64) -> Option<Vec<u8>> {
        let until = Instant::now() + Duration::from_secs(secs);
        // SAFETY: initialised process-shared semaphore.
        while unsafe { libc::sem_trywait(self.sem()) } != 0 {
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let rp = self.hdr(OFF_READ_PT).load(Ordering::Acquire);
        assert_eq!(self.word(rp + 1).load(Ordering::Acquire), MAGIC_COMMITTED);
        let len = self.word(rp).load(Ordering::Relaxed) as usize;
        let mut out = Vec::with_capacity(len);
        for i in 0..len.div_ceil(4) {
            out.extend_from_slice(
                &self
                    .word(rp + 2 + i as u32)
                    .load(Ordering::Relaxed)
                    .to_le_bytes(),
            );
        }
        out.truncate(len);
        self.word(rp + 1).store(MAGIC_CONSUMED, Ordering::Release);
        let next = (u64::from(rp) + 2 + len.div_ceil(4) as u64) % u64::from(self.words);
        self.hdr(OFF_READ_PT).store(next as u32, Ordering::Release);
        Some(out)
    }
}

/// A connection past the handshake, its rings mapped.
pub struct Client {
    pub sock: UnixStream,
    pub max_msg_size: u32,
    pub request: Ring,
    pub response: Ring,
}

impl Client {
    /// Connects and shakes hands; `Err(errno)` when the daemon refuses.
    pub fn connect(name: &str, max_msg_size: u32) -> Result<Client, i32> {
        let mut sock = connect(name);
        let r = handshake(&mut sock, max_msg_size).unwrap_or_else(|e| panic!("handshake: {e}"));
        Self::from_response(sock, &r)
    }

    pub fn from_response(sock: UnixStream, r: &ConnectionResponse) -> Result<Client, i32> {
        if r.error != 0 {
            return Err(r.error);
        }
        Ok(Client {
            request: Ring::open(&r.request),
            response: Ring::open(&r.response),
            max_msg_size: r.max_msg_size,
            sock,
        })
    }

    /// Tells the daemon to look at the request ring.
    pub fn wake(&mut self) -> std::io::Result<()> {
        self.sock.write_all(&[0])
    }

    /// One request, one response (waiting up to 30 s).
    pub fn call(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        assert!(self.request.write(msg), "request ring full");
        self.wake().ok()?;
        self.response.read(30)
    }
}

/// The errno field of a response (0 = success).
pub fn response_error(resp: &[u8]) -> i32 {
    i32::from_le_bytes(resp[16..20].try_into().unwrap())
}
