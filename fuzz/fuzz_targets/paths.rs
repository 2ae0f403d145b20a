//! Path spellings from clients and peers (memdb.md §4.1, §7.1, §10.2;
//! ipc.md §3): normalisation, the private-path checks of the IPC server
//! and of memdb, lock directories and VM config names.
#![no_main]

use ccfs_ipc::access;
use ccfs_memdb::path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = std::str::from_utf8(data) else {
        return;
    };
    let n = access::normalize(p);
    assert_eq!(path::normalize(p), n, "the two normalisations differ");
    assert_eq!(access::normalize(&n), n, "normalize is not idempotent");
    assert!(!n.starts_with('/') && !n.ends_with('/'));
    assert!(n
        .split('/')
        .all(|c| c != "." && (n.is_empty() || !c.is_empty())));

    // On a canonical path both privacy rules say the same.
    assert_eq!(access::is_private(&n), path::is_private(&n), "{n:?}");

    // A path the tree resolves to a private entry stays private once the
    // IPC server has normalised it. The tree skips empty components but
    // not `.`, so only spellings without `.` components name the same entry.
    let lookup: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if !lookup.contains(&".") {
        let canonical = lookup.join("/");
        assert_eq!(canonical, n);
        assert_eq!(path::is_private(&canonical), access::is_private(&n));
    }
    if path::is_private(p)
        && !p
            .split('/')
            .skip_while(|c| c.is_empty())
            .any(|c| c.is_empty() || c == ".")
    {
        assert!(access::is_private(&n), "{p:?} lost its privacy as {n:?}");
    }

    if path::is_lockdir(p) {
        assert!(path::is_private(p), "lock directories live under priv/");
    }
    if let Some((node, kind, vmid)) = path::vm_config(p) {
        assert!(path::valid_nodename(node));
        assert_eq!(format!("nodes/{node}/{}/{vmid}.conf", kind.dir()), p);
    }
    if let Some(vmid) = path::vm_config_name(p) {
        assert_eq!(format!("{vmid}.conf"), p);
    }
    let _ = path::is_openvz_script(p);
});
