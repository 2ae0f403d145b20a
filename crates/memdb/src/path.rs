//! Path spelling and the string-based path rules (memdb.md §4.1, §7.1,
//! §10.2; fuse.md §3.1).
//!
//! Tree operations compare *raw* path strings for locks, VM configs and
//! change counters, exactly as C does, so that a message applied on a C node
//! and on a ccfs node has the same side effects. Lookups ignore empty
//! components. Readers that enforce privacy (IPC) must [`normalize`] first.

use crate::vmlist::GuestKind;

/// Canonical relative spelling: no leading, trailing or doubled `/`, no `.`
/// components. `..` is kept as a literal name (no entry can have it, so a
/// lookup through it fails, as in C).
pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    parts.join("/")
}

/// Components used for lookup: empty ones are skipped; `""`, `"."` and
/// `"/"` name the root.
pub(crate) fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Split a path for an operation that names an entry, like glib's
/// `g_path_get_dirname`/`g_path_get_basename` after trailing slashes are
/// stripped (memdb.md §4.1). Returns (parent path, last component).
pub(crate) fn split(path: &str) -> (&str, &str) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        None => (".", trimmed),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            let dir = if dir.is_empty() { "/" } else { dir };
            (dir, &trimmed[i + 1..])
        }
    }
}

/// A last component that no entry may have (memdb.md §4.1).
pub(crate) fn is_bad_name(name: &str) -> bool {
    name.is_empty() || name == "." || name == ".."
}

/// `priv`, `priv/...`, `nodes/<X>/priv`, `nodes/<X>/priv/...` after leading
/// slashes (cfs-utils.c: path_is_private; fuse.md §3.1). `<X>` may even be
/// empty, as in C.
pub fn is_private(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    let under = |p: &str| p == "priv" || p.starts_with("priv/");
    if under(p) {
        return true;
    }
    if let Some(rest) = p.strip_prefix("nodes/") {
        if let Some(i) = rest.find('/') {
            return under(&rest[i + 1..]);
        }
    }
    false
}

/// `priv/lock/` followed by at least one character, after leading slashes
/// (cfs-utils.c: path_is_lockdir; memdb.md §10.2).
pub fn is_lockdir(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    p.len() > "priv/lock/".len() && p.starts_with("priv/lock/")
}

/// Node names taking part in VM bookkeeping: ASCII letters and digits, `-`
/// anywhere but first and last (memdb.md §7.1, `valid_nodename`).
pub fn valid_nodename(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `<vmid>.conf` with vmid starting 1–9 and at most u32::MAX
/// (`name_is_vm_config`).
pub fn vm_config_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".conf")?;
    parse_vmid(digits)
}

fn parse_vmid(digits: &str) -> Option<u32> {
    let first = *digits.as_bytes().first()?;
    if !(b'1'..=b'9').contains(&first) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()
}

/// Exactly `nodes/<node>/<qemu-server|lxc|openvz>/<vmid>.conf`
/// (`path_contain_vm_config`, memdb.md §7.1). Raw string, no normalising.
pub fn vm_config(path: &str) -> Option<(&str, GuestKind, u32)> {
    let mut parts = path.split('/');
    let (nodes, node, dir, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || nodes != "nodes" || !valid_nodename(node) {
        return None;
    }
    let kind = GuestKind::from_dir(dir)?;
    Some((node, kind, vm_config_name(file)?))
}

/// Legacy OpenVZ script names get the owner-execute bit (fuse.md §3.1):
/// `<vmid>.<suffix>` (vmid starting 1–9) or `vps.<suffix>`.
pub fn is_openvz_script(name: &str) -> bool {
    const SUFFIXES: [&str; 6] = ["mount", "umount", "start", "stop", "premount", "postumount"];
    let Some((stem, suffix)) = name.split_once('.') else {
        return false;
    };
    SUFFIXES.contains(&suffix) && (stem == "vps" || parse_vmid(stem).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_spellings() {
        assert_eq!(normalize("/priv//lock/./x/"), "priv/lock/x");
        assert_eq!(normalize("nodes//n/priv"), "nodes/n/priv");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("a/../b"), "a/../b");
    }

    #[test]
    fn split_like_glib() {
        assert_eq!(split("a"), (".", "a"));
        assert_eq!(split("a/b/"), ("a", "b"));
        assert_eq!(split("a//b"), ("a", "b"));
        assert_eq!(split("/b"), ("/", "b"));
        assert_eq!(split(""), (".", ""));
    }

    #[test]
    fn private_paths() {
        for p in [
            "priv",
            "priv/x",
            "/priv/x",
            "nodes/a/priv",
            "nodes/a/priv/k",
            "nodes//priv",
        ] {
            assert!(is_private(p), "{p}");
        }
        for p in [
            "private",
            "nodes/a/privx",
            "nodes/a/b/priv",
            "x/priv",
            "nodes",
        ] {
            assert!(!is_private(p), "{p}");
        }
    }

    #[test]
    fn lockdirs() {
        assert!(is_lockdir("priv/lock/a"));
        assert!(is_lockdir("/priv/lock/a/b"));
        assert!(!is_lockdir("priv/lock/"));
        assert!(!is_lockdir("priv/lock"));
    }

    #[test]
    fn vm_configs() {
        assert_eq!(
            vm_config("nodes/n1/qemu-server/100.conf"),
            Some(("n1", GuestKind::Qemu, 100))
        );
        assert_eq!(
            vm_config("nodes/a-b/lxc/4294967295.conf"),
            Some(("a-b", GuestKind::Lxc, u32::MAX))
        );
        for p in [
            "nodes/n/qemu-server/0100.conf",
            "nodes/n/qemu-server/100.conf.tmp",
            "nodes/n/qemu-server/100.CONF",
            "nodes/n/qemu-server/4294967296.conf",
            "nodes/n_x/lxc/100.conf",
            "nodes/-n/lxc/100.conf",
            "nodes/n/qemu-server/sub/100.conf",
            "/nodes/n/lxc/100.conf",
            "nodes/n/kvm/100.conf",
        ] {
            assert_eq!(vm_config(p), None, "{p}");
        }
    }

    #[test]
    fn openvz_scripts() {
        assert!(is_openvz_script("101.mount"));
        assert!(is_openvz_script("vps.premount"));
        assert!(!is_openvz_script("0101.mount"));
        assert!(!is_openvz_script("101.conf"));
    }
}
