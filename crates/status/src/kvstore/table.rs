//! A node's key table with its version rules (`kventry_hash_set`,
//! kvstore.md §3.1, §4).

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    pub value: Vec<u8>,
    /// 0 when inserted, +1 on every replacement.
    pub version: u32,
}

/// key → value and version, in insertion order (C prints hash order; any
/// order is valid JSON for the clients).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvTable {
    entries: Vec<(String, KvEntry)>,
}

impl KvTable {
    /// Empty value: remove; existing key: replace and bump the version;
    /// new key: insert with version 0.
    pub fn set(&mut self, key: &str, value: &[u8]) {
        let at = self.entries.iter().position(|(k, _)| k == key);
        match (at, value.is_empty()) {
            (Some(i), true) => {
                self.entries.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                let e = &mut self.entries[i].1;
                e.value = value.to_vec();
                e.version = e.version.wrapping_add(1);
            }
            (None, false) => self.entries.push((
                key.to_owned(),
                KvEntry {
                    value: value.to_vec(),
                    version: 0,
                },
            )),
        }
    }

    pub fn get(&self, key: &str) -> Option<&KvEntry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &KvEntry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_0_and_count_replacements() {
        let mut t = KvTable::default();
        t.set("kv/foo", b"a\0");
        assert_eq!(t.get("kv/foo").unwrap().version, 0);
        t.set("kv/foo", b"b\0");
        t.set("kv/foo", b"b\0");
        let e = t.get("kv/foo").unwrap();
        assert_eq!((e.version, e.value.as_slice()), (2, &b"b\0"[..]));
        t.set("kv/foo", b"");
        assert!(t.get("kv/foo").is_none());
        t.set("kv/foo", b"\0");
        assert_eq!(t.get("kv/foo").unwrap().version, 0);
        t.set("gone", b"");
        assert_eq!(t.len(), 1);
    }
}
