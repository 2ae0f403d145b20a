//! `.version` (`cfs_create_version_msg`, plugins.md §2.1, kvstore.md §9).

use std::fmt::Write;

/// `starttime`, `clinfo`, `vmlist`, then the change counters in the given
/// order (the 43 watched paths), then the kvstore blocks: the first block
/// must be the local node's, the others follow (`,` NL between blocks).
pub fn version<'c, 'k, C, B, K>(
    starttime: u64,
    clinfo: u32,
    vmlist: u32,
    counters: C,
    kvstore: B,
) -> String
where
    C: IntoIterator<Item = (&'c str, u64)>,
    B: IntoIterator<Item = (&'k str, K)>,
    K: IntoIterator<Item = (&'k str, u32)>,
{
    let mut s = String::with_capacity(1200);
    // Writing into a String cannot fail.
    let _ = write!(
        s,
        "{{\n\"starttime\": {starttime},\n\"clinfo\": {clinfo},\n\"vmlist\": {vmlist},\n"
    );
    for (path, count) in counters {
        let _ = writeln!(s, "\"{path}\": {count},");
    }
    s.push_str("\"kvstore\": {\n");
    for (i, (node, keys)) in kvstore.into_iter().enumerate() {
        if i > 0 {
            s.push_str(",\n");
        }
        let _ = writeln!(s, "\"{node}\": {{");
        for (j, (key, v)) in keys.into_iter().enumerate() {
            if j > 0 {
                s.push_str(",\n");
            }
            let _ = write!(s, "\"{key}\": {v}");
        }
        s.push_str("}\n");
    }
    s.push_str("}\n}\n");
    s
}
