//! Shared helpers of the integration tests: vector paths and parsers that
//! rebuild renderer inputs from the captured C texts.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn read_text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

pub fn manifest(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

/// Text between `start` and the next `end`, advancing `rest`.
pub fn take<'a>(rest: &mut &'a str, start: &str, end: &str) -> &'a str {
    let i = rest
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {rest:?}"))
        + start.len();
    let j = rest[i..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} not in {rest:?}"))
        + i;
    let v = &rest[i..j];
    *rest = &rest[j..];
    v
}

#[derive(Debug, Default)]
pub struct Version {
    pub starttime: u64,
    pub clinfo: u32,
    pub vmlist: u32,
    pub counters: Vec<(String, u64)>,
    pub blocks: Vec<(String, Vec<(String, u32)>)>,
}

pub fn parse_version(text: &str) -> Version {
    let mut v = Version::default();
    let (head, kv) = text.split_once("\"kvstore\": {\n").unwrap();
    for line in head.lines().skip(1) {
        let (k, n) = line.trim_end_matches(',').split_once("\": ").unwrap();
        let k = k.trim_start_matches('"');
        match k {
            "starttime" => v.starttime = n.parse().unwrap(),
            "clinfo" => v.clinfo = n.parse().unwrap(),
            "vmlist" => v.vmlist = n.parse().unwrap(),
            _ => v.counters.push((k.to_owned(), n.parse().unwrap())),
        }
    }
    // blocks: "<node>": {\n<keys>}\n separated by ",\n"
    let body = kv.strip_suffix("}\n}\n").unwrap();
    for block in body.split("}\n,\n") {
        let block = block.trim_end_matches("}\n");
        let (node, keys) = block.split_once("\": {\n").unwrap();
        let node = node.trim_start_matches('"').to_owned();
        let mut list = Vec::new();
        if !keys.is_empty() {
            for kv in keys.split(",\n") {
                let (k, n) = kv.split_once("\": ").unwrap();
                list.push((k.trim_start_matches('"').to_owned(), n.parse().unwrap()));
            }
        }
        v.blocks.push((node, list));
    }
    v
}

#[derive(Debug)]
pub struct MemberNode {
    pub name: String,
    pub id: u32,
    pub online: bool,
    pub ip: Option<String>,
}

#[derive(Debug)]
pub struct Members {
    pub nodename: String,
    pub version: u32,
    /// name, config version, quorate, nodes
    pub cluster: Option<(String, u32, bool, Vec<MemberNode>)>,
}

pub fn parse_members(text: &str) -> Members {
    let mut r = text;
    let nodename = take(&mut r, "\"nodename\": \"", "\"").to_owned();
    let version: u32 = take(&mut r, "\"version\": ", "\n")
        .trim_end_matches(',')
        .parse()
        .unwrap();
    if !r.contains("\"cluster\"") {
        return Members {
            nodename,
            version,
            cluster: None,
        };
    }
    let name = take(&mut r, "\"name\": \"", "\"").to_owned();
    let cfg = take(&mut r, "\"version\": ", ",").parse().unwrap();
    let quorate = take(&mut r, "\"quorate\": ", " ") == "1";
    let mut nodes = Vec::new();
    while r.contains("\"id\": ") {
        let name = take(&mut r, "  \"", "\"").to_owned();
        let id = take(&mut r, "\"id\": ", ",").parse().unwrap();
        let line_end = r.find('}').unwrap();
        let line = &r[..line_end];
        let online = line.contains("\"online\": 1");
        let ip = line
            .split_once("\"ip\": \"")
            .map(|(_, ip)| ip.trim_end_matches('"').to_owned());
        r = &r[line_end..];
        nodes.push(MemberNode {
            name,
            id,
            online,
            ip,
        });
    }
    Members {
        nodename,
        version,
        cluster: Some((name, cfg, quorate, nodes)),
    }
}

/// (version, [(vmid, node, type, version)])
pub fn parse_vmlist(text: &str) -> (u32, Vec<(u32, String, String, u32)>) {
    let mut r = text;
    let version = take(&mut r, "\"version\": ", "\n")
        .trim_end_matches(',')
        .parse()
        .unwrap();
    let mut vms = Vec::new();
    if let Some(i) = r.find("\"ids\": {") {
        r = &r[i + 8..];
    }
    while r.contains("\"node\"") {
        let vmid = take(&mut r, "\n\"", "\"").parse().unwrap();
        let node = take(&mut r, "\"node\": \"", "\"").to_owned();
        let kind = take(&mut r, "\"type\": \"", "\"").to_owned();
        let v = take(&mut r, "\"version\": ", " ").parse().unwrap();
        vms.push((vmid, node, kind, v));
    }
    (version, vms)
}

/// One `.clusterlog` line; strings as printed (msg already escaped).
#[derive(Debug, Clone)]
pub struct LogLine {
    pub uid: u32,
    pub time: u32,
    pub pri: u8,
    pub tag: String,
    pub pid: u32,
    pub node: String,
    pub user: String,
    pub msg: String,
}

/// Lines newest first. The text is not JSON (tags are unescaped), so it is
/// cut at the fixed separators.
pub fn parse_clusterlog(text: &str) -> Vec<LogLine> {
    let body = text
        .strip_prefix("{\n\"data\": [\n")
        .unwrap()
        .strip_suffix("]\n}\n")
        .unwrap();
    let mut out = Vec::new();
    for line in body.lines() {
        let mut r = line;
        let uid = take(&mut r, "{\"uid\": ", ",").parse().unwrap();
        let time = take(&mut r, "\"time\": ", ",").parse().unwrap();
        let pri = take(&mut r, "\"pri\": ", ",").parse().unwrap();
        let tag = take(&mut r, "\"tag\": \"", "\", \"pid\": ").to_owned();
        let pid = take(&mut r, "\"pid\": ", ",").parse().unwrap();
        let node = take(&mut r, "\"node\": \"", "\", \"user\": ").to_owned();
        let user = take(&mut r, "\"user\": \"", "\", \"msg\": ").to_owned();
        let msg = r
            .strip_prefix("\", \"msg\": \"")
            .unwrap()
            .trim_end_matches(',')
            .strip_suffix("\"}")
            .unwrap()
            .to_owned();
        out.push(LogLine {
            uid,
            time,
            pri,
            tag,
            pid,
            node,
            user,
            msg,
        });
    }
    out
}

/// A kvstore LOG payload carrying the line's strings verbatim.
pub fn raw_entry(l: &LogLine) -> Vec<u8> {
    let strings: Vec<Vec<u8>> = [&l.node, &l.user, &l.tag, &l.msg]
        .iter()
        .map(|s| {
            let mut v = s.as_bytes().to_vec();
            v.push(0);
            v
        })
        .collect();
    let size = 48 + strings.iter().map(Vec::len).sum::<usize>();
    let mut b = vec![0u8; size];
    b[8..12].copy_from_slice(&l.uid.to_le_bytes());
    b[12..16].copy_from_slice(&l.time.to_le_bytes());
    b[16..24].copy_from_slice(&ccfs_status::clusterlog::fnv1a64(&strings[0]).to_le_bytes());
    b[24..32].copy_from_slice(&ccfs_status::clusterlog::fnv1a64(&strings[1]).to_le_bytes());
    b[32..36].copy_from_slice(&l.pid.to_le_bytes());
    b[36] = l.pri;
    b[37] = strings[0].len() as u8;
    b[38] = strings[1].len() as u8;
    b[39] = strings[2].len() as u8;
    b[40..44].copy_from_slice(&(strings[3].len() as u32).to_le_bytes());
    let mut p = 44;
    for s in &strings {
        b[p..p + s.len()].copy_from_slice(s);
        p += s.len();
    }
    b
}

/// `.rrd` lines as (key, data).
pub fn parse_rrd(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, d) = l.split_once(':').unwrap();
            // keys contain '/', never ':'
            (k.to_owned(), d.to_owned())
        })
        .collect()
}

/// Minimal seeded PRNG (xorshift64*), so fuzz runs are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
