//! `ccfs status` for people: the daemon's status object (`GET /v1/status`)
//! as aligned lines, and the reasons it is not healthy. Fields the daemon
//! did not send are left out, so an older or smaller status still prints.

use serde_json::Value;

use super::output::local_time;

/// `12.3 KiB` and friends (binary units, as `df -h`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `3 s`, `4 min 05 s`, `2 h 03 min`, `5 d 02 h`.
pub fn span(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {:02} s", secs / 60, secs % 60),
        3600..=86_399 => format!("{} h {:02} min", secs / 3600, secs / 60 % 60),
        _ => format!("{} d {:02} h", secs / 86_400, secs / 3600 % 24),
    }
}

fn yes_no(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A unix time as local time and how long ago it was (against `now`).
fn when(t: u64, now: u64) -> String {
    let at = local_time(u32::try_from(t).unwrap_or(u32::MAX));
    format!("{at} ({} ago)", span(now.saturating_sub(t)))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The reasons the daemon is not healthy (empty when it is).
pub fn problems(v: &Value) -> Vec<String> {
    if v["healthy"].as_bool() != Some(false) {
        return Vec::new();
    }
    let reasons: Vec<String> = v["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if reasons.is_empty() {
        vec!["the daemon reports itself unhealthy".into()]
    } else {
        reasons
    }
}

fn row(out: &mut Vec<String>, label: &str, value: String) {
    out.push(format!("{label:<10}{value}"));
}

fn cluster_line(c: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(name) = c["name"].as_str() {
        parts.push(match c["config_version"].as_u64() {
            Some(v) => format!("{name} (config version {v})"),
            None => name.to_string(),
        });
    }
    if let Some(id) = c["nodeid"].as_u64() {
        parts.push(format!("node id {id}"));
    }
    parts.push(if c["joined"].as_bool() == Some(true) {
        "joined".to_string()
    } else {
        "not joined".to_string()
    });
    if let Some(sync) = c["sync"].as_str() {
        parts.push(sync.to_string());
    }
    if let Some(l) = c["leader"].as_object() {
        parts.push(format!(
            "leader {} (id {})",
            text(&l["name"]),
            text(&l["id"])
        ));
    }
    parts.join(", ")
}

fn member_line(m: &Value) -> String {
    let mut s = format!(
        "{} (id {}) {}",
        text(&m["name"]),
        text(&m["id"]),
        if m["online"].as_bool() == Some(true) {
            "online"
        } else {
            "offline"
        }
    );
    if let Some(ip) = m["ip"].as_str() {
        s.push_str(&format!(" {ip}"));
    }
    match m["synced"].as_bool() {
        Some(true) => s.push_str(" synced"),
        Some(false) => s.push_str(" not synced"),
        None => {}
    }
    s
}

/// The status as lines.
pub fn lines(v: &Value) -> Vec<String> {
    let now = now();
    let mut out = Vec::new();
    let health = match v["healthy"].as_bool() {
        Some(true) => ", healthy",
        Some(false) => ", NOT HEALTHY",
        None => "",
    };
    row(
        &mut out,
        "node",
        format!("{}, {} mode{health}", text(&v["node"]), text(&v["mode"])),
    );
    let mut quorate = yes_no(&v["quorate"]).to_string();
    if v["read_only"].as_bool() == Some(true) {
        quorate.push_str(" (read-only)");
    }
    row(&mut out, "quorate", quorate);
    if v["cluster"].is_object() {
        row(&mut out, "cluster", cluster_line(&v["cluster"]));
    }
    for (i, m) in v["members"].as_array().into_iter().flatten().enumerate() {
        row(
            &mut out,
            if i == 0 { "members" } else { "" },
            member_line(m),
        );
    }
    if let Some(version) = v["version"].as_u64() {
        let mut t = format!("version {version}");
        if let (Some(n), Some(max)) = (v["entries"].as_u64(), v["max_entries"].as_u64()) {
            t.push_str(&format!("; {n} of {max} entries"));
        }
        if let (Some(b), Some(max)) = (v["bytes"].as_u64(), v["max_bytes"].as_u64()) {
            t.push_str(&format!("; {} of {}", size(b), size(max)));
        }
        row(&mut out, "tree", t);
    }
    let db = &v["database"];
    if db.is_object() {
        let mut t = text(&db["path"]);
        if let Some(b) = db["bytes"].as_u64() {
            t.push_str(&format!(": {}", size(b)));
        }
        match db["last_commit"].as_u64() {
            Some(c) => t.push_str(&format!(", last commit {}", when(c, now))),
            None => t.push_str(", no commit yet"),
        }
        if let Some(free) = db["free_bytes"].as_u64() {
            t.push_str(&format!(", {} free", size(free)));
        }
        if db["error_mode"].as_bool() == Some(true) {
            t.push_str(", ERROR MODE");
        }
        row(&mut out, "database", t);
    }
    let j = &v["journal"];
    if j.is_object() {
        let mut t = format!("{} records", text(&j["records"]));
        if let Some(b) = j["bytes"].as_u64() {
            t.push_str(&format!(", {}", size(b)));
        }
        if let (Some(a), Some(b)) = (j["oldest_version"].as_u64(), j["newest_version"].as_u64()) {
            t.push_str(&format!(", versions {a}..{b}"));
        }
        if let Some(p) = j["pruned_through"].as_u64() {
            t.push_str(&format!(" (pruned through {p})"));
        }
        row(&mut out, "journal", t);
    }
    if let Some(up) = v["uptime_seconds"].as_u64() {
        row(&mut out, "uptime", span(up));
    }
    if let Some(w) = v["watchers"].as_u64() {
        row(&mut out, "watchers", w.to_string());
    }
    for (i, w) in v["warnings"].as_array().into_iter().flatten().enumerate() {
        row(&mut out, if i == 0 { "warnings" } else { "" }, text(w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_spans() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(128 * 1024 * 1024), "128.0 MiB");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(65), "1 min 05 s");
        assert_eq!(span(3 * 3600 + 120), "3 h 02 min");
        assert_eq!(span(2 * 86_400 + 3600), "2 d 01 h");
    }

    #[test]
    fn a_healthy_cluster_node() {
        let v = json!({
            "node": "n1", "mode": "cluster", "healthy": true, "warnings": [],
            "quorate": true, "read_only": false,
            "cluster": { "name": "demo", "config_version": 3, "nodeid": 1,
                "joined": true, "sync": "synced", "leader": { "id": 1, "name": "n1" } },
            "members": [
                { "name": "n1", "id": 1, "online": true, "ip": "10.0.0.1", "synced": true },
                { "name": "n2", "id": 2, "online": false, "ip": null, "synced": null },
            ],
            "version": 12, "entries": 5, "max_entries": 262144,
            "bytes": 2048, "max_bytes": 134217728,
            "journal": { "records": 11, "bytes": 4096, "oldest_version": 2,
                "newest_version": 12, "pruned_through": null },
            "uptime_seconds": 61,
        });
        let l = lines(&v);
        assert_eq!(
            l,
            [
                "node      n1, cluster mode, healthy",
                "quorate   yes",
                "cluster   demo (config version 3), node id 1, joined, synced, leader n1 (id 1)",
                "members   n1 (id 1) online 10.0.0.1 synced",
                "          n2 (id 2) offline",
                "tree      version 12; 5 of 262144 entries; 2.0 KiB of 128.0 MiB",
                "journal   11 records, 4.0 KiB, versions 2..12",
                "uptime    1 min 01 s",
            ]
        );
        assert!(problems(&v).is_empty());
    }

    #[test]
    fn problems_are_the_warnings_of_an_unhealthy_daemon() {
        let v = json!({ "healthy": false, "warnings": ["not quorate", "disk full"] });
        assert_eq!(problems(&v), ["not quorate", "disk full"]);
        assert_eq!(
            problems(&json!({ "healthy": false })),
            ["the daemon reports itself unhealthy"]
        );
        // warnings alone do not make it unhealthy: the daemon decides
        assert!(problems(&json!({ "warnings": ["x"] })).is_empty());
        let l = lines(&v);
        assert_eq!(l[l.len() - 2], "warnings  not quorate");
        assert_eq!(l[l.len() - 1], "          disk full");
    }
}
