//! The RRD sample table and the `.rrd` dump with its cache
//! (`rrdentry_hash_set`, `cfs_rrd_dump`; kvstore.md §7, plugins.md §2.5).

use crate::error::{Error, Result};

/// Samples received longer ago than this are dropped by the next dump.
pub const EXPIRE_SECS: i64 = 300;
/// A dump generated less than this long ago is served from the cache.
pub const CACHE_SECS: i64 = 2;

/// Where accepted samples go to be written into RRD files (kvstore.md §7.2).
/// Writing them (rrdcached / librrd) is not part of this crate: the daemon
/// supplies an implementation, which gets the file, its schema and the
/// update argument from [`crate::rrd_file::plan_update`] (and logs its
/// error for unknown keys, as C does). The default discards.
pub trait RrdSink: Send {
    /// Called for every accepted sample, local or remote. `key` is without
    /// the `rrd/` prefix; `data` is the value as received, NUL included.
    fn update(&mut self, key: &str, data: &[u8]);
}

/// An [`RrdSink`] that does nothing.
#[derive(Debug, Default)]
pub struct NoRrdFiles;

impl RrdSink for NoRrdFiles {
    fn update(&mut self, _key: &str, _data: &[u8]) {}
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Sample {
    /// As received, with its final NUL.
    data: Vec<u8>,
    /// Local reception time (C keeps 32 bits).
    received: u32,
}

/// The latest sample per RRD key, in insertion order (C: hash order).
#[derive(Clone, Debug, Default)]
pub struct RrdTable {
    samples: Vec<(String, Sample)>,
    /// Text of the last generated dump without its NUL, and when.
    cache: Option<(Vec<u8>, i64)>,
}

impl RrdTable {
    /// Stores a sample; the data must be 1..4095 bytes ending in NUL, as
    /// C's preconditions demand (SET_STATUS answers ENOMEM otherwise).
    pub fn set(&mut self, key: &str, data: &[u8], now: u64) -> Result<()> {
        let bad = |reason| Error::BadValue {
            key: format!("rrd/{key}"),
            reason,
        };
        if data.is_empty() || data.len() >= 4096 {
            return Err(bad("length must be 1..4095"));
        }
        if data[data.len() - 1] != 0 {
            return Err(bad("not NUL-terminated"));
        }
        let sample = Sample {
            data: data.to_vec(),
            received: now as u32,
        };
        match self.samples.iter_mut().find(|(k, _)| k == key) {
            Some((_, s)) => *s = sample,
            None => self.samples.push((key.to_owned(), sample)),
        }
        Ok(())
    }

    /// The latest sample of a key (with its NUL) and its reception time.
    pub fn get(&self, key: &str) -> Option<(&[u8], u32)> {
        self.samples
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| (s.data.as_slice(), s.received))
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// `cfs_rrd_dump`: within 2 s of the last generation the cached text is
    /// returned without a NUL; otherwise samples older than 300 s are
    /// dropped, `<key>:<data>\n` lines are generated, cached, and returned
    /// with a NUL appended.
    pub fn dump(&mut self, now: u64) -> Vec<u8> {
        let now_signed = now as i64;
        if let Some((text, at)) = &self.cache {
            if now_signed - at < CACHE_SECS {
                return text.clone();
            }
        }
        let ctime = now as u32;
        self.samples
            .retain(|(_, s)| i64::from(ctime.wrapping_sub(s.received) as i32) <= EXPIRE_SECS);
        let mut text = Vec::new();
        for (key, s) in &self.samples {
            text.extend_from_slice(key.as_bytes());
            text.push(b':');
            let end = s.data.iter().position(|&c| c == 0).unwrap_or(s.data.len());
            text.extend_from_slice(&s.data[..end]);
            text.push(b'\n');
        }
        self.cache = Some((text.clone(), now_signed));
        text.push(0);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_on_generation_cache_for_2s_expiry_after_300s() {
        let mut t = RrdTable::default();
        t.set("pve2-node/n1", b"1:2:3\0", 1000).unwrap();
        assert_eq!(t.dump(1000), b"pve2-node/n1:1:2:3\n\0");
        t.set("pve2.3-vm/100", b"4:5\0", 1001).unwrap();
        // cached: no NUL, no new line
        assert_eq!(t.dump(1001), b"pve2-node/n1:1:2:3\n");
        let full = t.dump(1002);
        assert_eq!(full, b"pve2-node/n1:1:2:3\npve2.3-vm/100:4:5\n\0");
        t.set("pve2.3-vm/100", b"4:5\0", 1010).unwrap();
        // 300 s is kept, 301 s is dropped
        assert_eq!(t.dump(1300), b"pve2-node/n1:1:2:3\npve2.3-vm/100:4:5\n\0");
        assert_eq!(t.dump(1302), b"pve2.3-vm/100:4:5\n\0");
        assert_eq!(t.len(), 1);
        assert_eq!(t.dump(1400), b"\0");
        assert_eq!(t.dump(1401), b"");
    }

    #[test]
    fn replacing_keeps_one_line_and_refreshes_the_time() {
        let mut t = RrdTable::default();
        t.set("k", b"a\0", 0).unwrap();
        t.set("k", b"b\0", 250).unwrap();
        assert_eq!(t.dump(500), b"k:b\n\0");
    }

    #[test]
    fn preconditions() {
        let mut t = RrdTable::default();
        assert!(t.set("k", b"", 0).is_err());
        assert!(t.set("k", b"abc", 0).is_err());
        assert!(t.set("k", &[b'a'; 4096], 0).is_err());
        let mut ok = vec![b'a'; 4095];
        ok[4094] = 0;
        assert!(t.set("k", &ok, 0).is_ok());
        assert_eq!(t.set("k", b"", 0).unwrap_err().errno(), 12);
    }
}
