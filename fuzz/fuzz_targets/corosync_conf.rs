//! `corosync.conf` as ccfs reads it (quorum.md §5.1, §6): the
//! `config_version` scan over the file the tree replicates, and the node
//! list built from the cmap keys corosync derives from it.
//!
//! The input is the file. For the node list, each line `key=value` (or
//! `key:number`) is a cmap entry.
#![no_main]

use ccfs_cluster::corosync_conf::config_version;
use ccfs_corosync::{parse_nodelist, CmapValue};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"config_version";

fuzz_target!(|text: &[u8]| {
    let v = config_version(text);
    if v != 0 {
        assert!(text.windows(KEY.len()).any(|w| w == KEY));
        // The first valid match decides: text after it cannot change it,
        // and a valid line in front of it wins.
        let mut longer = text.to_vec();
        longer.extend_from_slice(b"\nconfig_version: 1\n");
        assert_eq!(config_version(&longer), v);
    }
    let mut prefixed = b"totem {\n  config_version: 42\n".to_vec();
    prefixed.extend_from_slice(text);
    assert_eq!(config_version(&prefixed), 42);
    // Equal to a reference parse of the first match.
    assert_eq!(v, reference(text));

    let entries = String::from_utf8_lossy(text)
        .lines()
        .map(|line| match line.split_once('=') {
            Some((k, val)) => (k.to_owned(), CmapValue::Str(val.to_owned())),
            None => match line.split_once(':') {
                Some((k, n)) => (
                    k.to_owned(),
                    n.trim().parse().map_or(CmapValue::Other, CmapValue::Int),
                ),
                None => (line.to_owned(), CmapValue::Other),
            },
        })
        .collect::<Vec<_>>();
    for node in parse_nodelist(entries) {
        assert_ne!(node.nodeid, 0);
    }
});

/// `config_version\s*:\s*(\d+)`, first match, saturating, written
/// independently of the scanner under test.
fn reference(text: &[u8]) -> u64 {
    let space = |b: &u8| b" \t\n\r\x0b\x0c".contains(b);
    for start in 0..text.len() {
        let Some(rest) = text[start..].strip_prefix(KEY) else {
            continue;
        };
        let rest = &rest[rest.iter().take_while(|b| space(b)).count()..];
        let Some(rest) = rest.strip_prefix(b":") else {
            continue;
        };
        let rest = &rest[rest.iter().take_while(|b| space(b)).count()..];
        let digits: Vec<u8> = rest
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        if digits.is_empty() {
            continue;
        }
        let mut v: u128 = 0;
        for d in digits {
            v = (v * 10 + u128::from(d - b'0')).min(u128::from(u64::MAX) + 1);
        }
        return u64::try_from(v).unwrap_or(u64::MAX);
    }
    0
}
