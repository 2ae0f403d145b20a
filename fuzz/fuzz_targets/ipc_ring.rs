//! The libqb shared-memory ring as a hostile client leaves it (ipc.md §2.3):
//! the client can write any value into the positions and the data area at
//! any time. The server side (`Ring::try_read`, `Ring::write`) reads and
//! copies with raw pointers, so it is checked against a model of the ring:
//! every message read is exactly the bytes the positions point at, every
//! refusal is one the model expects, and a written chunk reads back.
//!
//! Input: read position (u16), write position (u16), a byte with the
//! number of semaphore posts (mod 4), the reader's maximum length (u16),
//! the length of a reply to write (u16), then the data area's content.
#![no_main]

use std::os::fd::AsRawFd;
use std::sync::{Mutex, OnceLock};

use ccfs_fuzz::Input;
use ccfs_ipc::ring::Ring;
use libfuzzer_sys::fuzz_target;

const MAX_MSG: u32 = 4096;
const OFF_WRITE_PT: usize = 0;
const OFF_READ_PT: usize = 4;
const OFF_SEM: usize = 8208;
const HEADER_LEN: usize = 8252;
const COMMITTED: u32 = 0xA1A1_A1A1;

/// The ring and the client's view of its two files (our own mappings).
struct Client {
    ring: Ring,
    hdr: *mut u8,
    data: *mut u8,
    data_len: usize,
}

// SAFETY: used under the mutex by one fuzzing thread at a time.
unsafe impl Send for Client {}

fn map(path: &str, len: usize) -> *mut u8 {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open ring file");
    // SAFETY: a shared mapping of a file of at least `len` bytes.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED, "mmap {path}");
    p.cast()
}

fn client() -> &'static Mutex<Client> {
    static C: OnceLock<Mutex<Client>> = OnceLock::new();
    C.get_or_init(|| {
        let base = format!(
            "{}/ccfs-fuzz-ring-{}",
            std::env::temp_dir().display(),
            std::process::id()
        );
        // SAFETY: getuid/getgid have no preconditions.
        let owner = unsafe { (libc::getuid(), libc::getgid()) };
        let ring = Ring::create(&base, MAX_MSG, owner).expect("create ring");
        let data_len = Ring::data_size(MAX_MSG).unwrap();
        let hdr = map(&format!("{base}-header"), HEADER_LEN);
        let data = map(&format!("{base}-data"), data_len);
        // The mappings stay; the names go now, so that nothing is left
        // behind when libFuzzer exits without running destructors.
        let _ = std::fs::remove_file(format!("{base}-header"));
        let _ = std::fs::remove_file(format!("{base}-data"));
        Mutex::new(Client {
            ring,
            hdr,
            data,
            data_len,
        })
    })
}

impl Client {
    fn set(&self, off: usize, v: u32) {
        // SAFETY: aligned offsets inside the header mapping.
        unsafe { self.hdr.add(off).cast::<u32>().write_volatile(v) }
    }
    fn get(&self, off: usize) -> u32 {
        // SAFETY: as above.
        unsafe { self.hdr.add(off).cast::<u32>().read_volatile() }
    }
    fn sem(&self) -> *mut libc::sem_t {
        // SAFETY: the semaphore inside the header mapping.
        unsafe { self.hdr.add(OFF_SEM).cast() }
    }
    fn area(&self) -> &[u8] {
        // SAFETY: our mapping of the data file, `data_len` bytes.
        unsafe { std::slice::from_raw_parts(self.data, self.data_len) }
    }
    fn area_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; `&mut self` makes it the only view we hand out.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.data_len) }
    }
    fn words(&self) -> u32 {
        (self.data_len / 4) as u32
    }
    fn word(&self, i: u32) -> u32 {
        let at = (i % self.words()) as usize * 4;
        let a = self.area();
        u32::from_le_bytes([a[at], a[at + 1], a[at + 2], a[at + 3]])
    }
    /// The chunk at word `pt` as the model reads it, or None for a refusal.
    fn model_read(&self, pt: u32, max: usize) -> Option<Vec<u8>> {
        if pt >= self.words() || self.word(pt + 1) != COMMITTED {
            return None;
        }
        let len = self.word(pt) as usize;
        if len > max || len + 8 > self.data_len {
            return None;
        }
        let start = ((pt + 2) % self.words()) as usize * 4;
        let a = self.area();
        Some((0..len).map(|i| a[(start + i) % self.data_len]).collect())
    }
    fn step(&self, pt: u32, len: usize) -> u32 {
        ((u64::from(pt) + 2 + len.div_ceil(4) as u64) % u64::from(self.words())) as u32
    }
    fn drain(&self) {
        // SAFETY: the ring's initialised process-shared semaphore.
        while unsafe { libc::sem_trywait(self.sem()) } == 0 {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = client().lock().unwrap_or_else(|e| e.into_inner());
    let mut input = Input::new(data);
    let (rp, wp) = (u32::from(input.u16()), u32::from(input.u16()));
    let posts = input.u8() % 4;
    let max = usize::from(input.u16());
    let reply_len = usize::from(input.u16()) % (c.data_len + 64);
    let content = input.rest();

    c.drain();
    let area = c.area_mut();
    area.fill(0);
    let n = content.len().min(area.len());
    area[..n].copy_from_slice(&content[..n]);
    c.set(OFF_READ_PT, rp);
    c.set(OFF_WRITE_PT, wp);
    for _ in 0..posts {
        // SAFETY: the ring's semaphore.
        unsafe { libc::sem_post(c.sem()) };
    }

    for _ in 0..posts {
        let pt = c.get(OFF_READ_PT);
        let expected = c.model_read(pt, max);
        let got = c.ring.try_read(max);
        if ccfs_fuzz::tracing() {
            eprintln!(
                "read at {pt}: {:?}",
                got.as_ref().map(|m| m.as_ref().map(Vec::len))
            );
        }
        match got {
            Ok(Some(msg)) => {
                assert_eq!(Some(&msg), expected.as_ref(), "read at {pt}");
                assert_eq!(c.get(OFF_READ_PT), c.step(pt, msg.len()));
            }
            Ok(None) => panic!("a posted semaphore read as empty"),
            Err(_) => {
                assert_eq!(expected, None, "refused a valid chunk at {pt}");
                break;
            }
        }
    }
    let _ = c.ring.try_read(max); // nothing posted any more, or left over
    c.drain();

    let reply: Vec<u8> = (0..reply_len).map(|i| i as u8 ^ 0x5a).collect();
    let wp = c.get(OFF_WRITE_PT);
    if c.ring.write(&reply).is_ok() {
        assert!(reply.len() + 8 <= c.data_len);
        assert_eq!(
            c.model_read(wp, usize::MAX),
            Some(reply.clone()),
            "write at {wp}"
        );
        assert_eq!(c.get(OFF_WRITE_PT), c.step(wp, reply.len()));
    }
    c.drain();
});
