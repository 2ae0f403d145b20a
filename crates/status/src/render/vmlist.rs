//! `.vmlist` (`cfs_create_vmlist_msg`, plugins.md §2.3, kvstore.md §8).

use std::fmt::Write;

/// `vms` are (vmid, node, type string, per-VM version).
pub fn vmlist<'a>(
    version: u32,
    vms: impl IntoIterator<Item = (u32, &'a str, &'a str, u32)>,
) -> String {
    let mut s = String::with_capacity(64);
    let mut first = true;
    for (vmid, node, kind, v) in vms {
        if first {
            let _ = write!(s, "{{\n\"version\": {version},\n\"ids\": {{\n");
            first = false;
        } else {
            s.push_str(",\n");
        }
        let _ = write!(
            s,
            "\"{vmid}\": {{ \"node\": \"{node}\", \"type\": \"{kind}\", \"version\": {v} }}"
        );
    }
    if first {
        let _ = writeln!(s, "{{\n\"version\": {version}");
    } else {
        s.push_str("}\n");
    }
    s.push_str("\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_spec_example() {
        assert_eq!(vmlist(0, []), "{\n\"version\": 0\n\n}\n");
        let want = "{\n\"version\": 2,\n\"ids\": {\n\
            \"100\": { \"node\": \"pve1\", \"type\": \"qemu\", \"version\": 1 },\n\
            \"101\": { \"node\": \"pve2\", \"type\": \"lxc\", \"version\": 2 }}\n\n}\n";
        assert_eq!(
            vmlist(2, [(100, "pve1", "qemu", 1), (101, "pve2", "lxc", 2)]),
            want
        );
    }
}
