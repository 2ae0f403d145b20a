//! Every renderer fed the inputs read back out of the C captures
//! (vectors/plugins) must reproduce the captured bytes exactly.

mod common;

use ccfs_status::clusterlog::{ClusterLog, Entry};
use ccfs_status::render::{self, MemberLine};
use ccfs_status::RrdTable;
use common::*;

const DIRS: [&str; 5] = [
    "local-fresh",
    "local",
    "cluster3/node1",
    "cluster3/node2",
    "cluster3/node3",
];

#[test]
fn version_texts_are_byte_exact() {
    for dir in DIRS {
        let text = read_text(&format!("plugins/{dir}/version"));
        let v = parse_version(&text);
        assert_eq!(v.counters.len(), 43, "{dir}");
        let got = render::version(
            v.starttime,
            v.clinfo,
            v.vmlist,
            v.counters.iter().map(|(p, c)| (p.as_str(), *c)),
            v.blocks
                .iter()
                .map(|(n, keys)| (n.as_str(), keys.iter().map(|(k, ver)| (k.as_str(), *ver)))),
        );
        assert_eq!(got, text, "{dir}");
    }
}

#[test]
fn node3_has_its_own_empty_block_first() {
    let text = read_text("plugins/cluster3/node3/version");
    assert!(text.contains("\"kvstore\": {\n\"node3\": {\n}\n,\n\"node1\": {\n"));
    let v = parse_version(&text);
    assert_eq!(v.blocks[0], ("node3".to_owned(), vec![]));
}

#[test]
fn members_texts_are_byte_exact() {
    for dir in DIRS {
        let text = read_text(&format!("plugins/{dir}/members"));
        let m = parse_members(&text);
        let got = match &m.cluster {
            None => render::members_local(&m.nodename, m.version),
            Some((name, cfg, quorate, nodes)) => render::members_cluster(
                &m.nodename,
                m.version,
                name,
                *cfg,
                *quorate,
                nodes.iter().map(|n| MemberLine {
                    name: &n.name,
                    nodeid: n.id,
                    online: n.online,
                    ip: n.ip.as_deref(),
                }),
            ),
        };
        assert_eq!(got, text, "{dir}");
        assert_eq!(m.cluster.is_some(), dir.starts_with("cluster3"), "{dir}");
    }
    assert_eq!(
        read_text("plugins/local-fresh/members"),
        render::members_local("node1", 0)
    );
}

#[test]
fn vmlist_texts_are_byte_exact() {
    assert_eq!(
        read_text("plugins/local-fresh/vmlist"),
        "{\n\"version\": 0\n\n}\n"
    );
    for dir in DIRS {
        let text = read_text(&format!("plugins/{dir}/vmlist"));
        let (version, vms) = parse_vmlist(&text);
        let got = render::vmlist(
            version,
            vms.iter()
                .map(|(id, node, kind, v)| (*id, node.as_str(), kind.as_str(), *v)),
        );
        assert_eq!(got, text, "{dir}");
    }
    let (_, local) = parse_vmlist(&read_text("plugins/local/vmlist"));
    assert_eq!(local.len(), 5);
}

#[test]
fn clusterlog_texts_are_byte_exact() {
    for dir in DIRS {
        let text = read_text(&format!("plugins/{dir}/clusterlog"));
        let lines = parse_clusterlog(&text);
        assert!(!lines.is_empty(), "{dir}");
        let mut log = ClusterLog::new();
        for l in lines.iter().rev() {
            let e = Entry::from_log_message(&raw_entry(l)).unwrap();
            assert!(log.insert(&e.view()), "{dir}: {l:?}");
        }
        assert_eq!(log.dump_json(None, 50), text.as_bytes(), "{dir}");
    }
}

#[test]
fn clusterlog_unescaped_tag_and_filters() {
    let text = read_text("plugins/local/clusterlog");
    assert!(text.contains("\"tag\": \"tag\"q\""));
    let lines = parse_clusterlog(&text);
    let mut log = ClusterLog::new();
    for l in lines.iter().rev() {
        log.insert(&Entry::from_log_message(&raw_entry(l)).unwrap().view());
    }
    // user filter: only alice's entry
    let alice = String::from_utf8(log.dump_json(Some(b"alice@pve"), 50)).unwrap();
    assert_eq!(parse_clusterlog(&alice).len(), 1);
    assert!(alice.contains("\"msg\": \"message from alice\"}\n]\n}\n"));
    // an empty filter is no filter
    assert_eq!(log.dump_json(Some(b""), 50), text.as_bytes());
    // max counts printed entries only: 2 newest of root@pam
    let two = String::from_utf8(log.dump_json(Some(b"root@pam"), 2)).unwrap();
    let got: Vec<u32> = parse_clusterlog(&two).iter().map(|l| l.uid).collect();
    assert_eq!(got, vec![5, 3]);
    assert_eq!(log.dump_json(None, 0), b"{\n\"data\": [\n]\n}\n");
    assert_eq!(
        ClusterLog::new().dump_json(None, 50),
        b"{\n\"data\": [\n]\n}\n"
    );
}

#[test]
fn rrd_texts_are_byte_exact() {
    for dir in DIRS {
        let text = read_text(&format!("plugins/{dir}/rrd"));
        let now = 1_795_281_700;
        let mut table = RrdTable::default();
        for (k, d) in parse_rrd(&text) {
            let mut data = d.into_bytes();
            data.push(0);
            table.set(&k, &data, now).unwrap();
        }
        let first = table.dump(now);
        // fresh generation carries the NUL; the file view never shows it
        assert_eq!(first.last(), Some(&0), "{dir}");
        assert_eq!(&first[..first.len() - 1], text.as_bytes(), "{dir}");
        // within 2 s: the cached text without NUL
        assert_eq!(table.dump(now + 1), text.as_bytes(), "{dir}");
    }
    assert!(read("plugins/local-fresh/rrd").is_empty());
}

#[test]
fn debug_texts() {
    for dir in DIRS {
        assert_eq!(
            read_text(&format!("plugins/{dir}/debug")),
            render::debug(false),
            "{dir}"
        );
    }
}
