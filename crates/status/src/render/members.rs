//! `.members` (`cfs_create_memberlist_msg`, plugins.md §2.2, kvstore.md §6.2).

use std::fmt::Write;

/// One node line of the cluster form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberLine<'a> {
    pub name: &'a str,
    pub nodeid: u32,
    pub online: bool,
    pub ip: Option<&'a str>,
}

/// Without cluster information (local mode, or cmap not read yet).
pub fn members_local(nodename: &str, clinfo: u32) -> String {
    format!("{{\n\"nodename\": \"{nodename}\",\n\"version\": {clinfo}\n}}\n")
}

/// With cluster information. C prints nodeid, config version and node
/// count with `%d`, so values above 2^31 come out negative; we do the same.
pub fn members_cluster<'a>(
    nodename: &str,
    clinfo: u32,
    cluster_name: &str,
    config_version: u32,
    quorate: bool,
    nodes: impl IntoIterator<Item = MemberLine<'a>>,
) -> String {
    let nodes: Vec<MemberLine<'a>> = nodes.into_iter().collect();
    let mut s = String::with_capacity(200 + 60 * nodes.len());
    let _ = write!(
        s,
        "{{\n\"nodename\": \"{nodename}\",\n\"version\": {clinfo},\n\"cluster\": {{ \
         \"name\": \"{cluster_name}\", \"version\": {}, \"nodes\": {}, \"quorate\": {} }},\n\
         \"nodelist\": {{\n",
        config_version as i32,
        nodes.len() as i32,
        u8::from(quorate)
    );
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            s.push_str(",\n");
        }
        let _ = write!(
            s,
            "  \"{}\": {{ \"id\": {}, \"online\": {}",
            n.name,
            n.nodeid as i32,
            u8::from(n.online)
        );
        if let Some(ip) = n.ip {
            let _ = write!(s, ", \"ip\": \"{ip}\"");
        }
        s.push('}');
    }
    s.push_str("\n  }\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(
            members_local("vm", 0),
            "{\n\"nodename\": \"vm\",\n\"version\": 0\n}\n"
        );
        let want = "{\n\"nodename\": \"pve1\",\n\"version\": 3,\n\
            \"cluster\": { \"name\": \"testclu\", \"version\": 7, \"nodes\": 2, \"quorate\": 1 },\n\
            \"nodelist\": {\n  \"pve1\": { \"id\": 1, \"online\": 0, \"ip\": \"192.0.2.1\"},\n  \
            \"pve2\": { \"id\": 2, \"online\": 0}\n  }\n}\n";
        let got = members_cluster(
            "pve1",
            3,
            "testclu",
            7,
            true,
            [
                MemberLine {
                    name: "pve1",
                    nodeid: 1,
                    online: false,
                    ip: Some("192.0.2.1"),
                },
                MemberLine {
                    name: "pve2",
                    nodeid: 2,
                    online: false,
                    ip: None,
                },
            ],
        );
        assert_eq!(got, want);
    }
}
