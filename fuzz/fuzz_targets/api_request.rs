//! The control socket's request head and target, as a hostile local
//! client sends them: parse never panics, and a parsed target's path
//! normalises to a tree path without `..` that stays private if the
//! spelled path was private.
#![no_main]

use std::path::Path;

use ccfs_api::http::parse_head;
use ccfs_api::rights::{is_private, normalize};
use ccfs_api::url::{percent_decode, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = parse_head(text) {
        if let Ok(t) = Target::parse(&req.target) {
            for s in &t.segments {
                let _ = s.len();
            }
            if let Some(p) = t.param("path") {
                check_path(p);
            }
        }
    }
    if let Ok(decoded) = percent_decode(text) {
        check_path(&decoded);
    }
});

fn check_path(p: &str) {
    if let Ok(n) = normalize(p, Path::new("/etc/pve")) {
        assert!(!n.split('/').any(|c| c == ".." || c == "."), "{n:?}");
        assert!(!n.starts_with('/') && !n.ends_with('/'), "{n:?}");
        assert_eq!(
            normalize(&n, Path::new("/etc/pve")).ok().as_deref(),
            Some(n.as_str())
        );
        let relative = match p.strip_prefix("/etc/pve") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => p,
        };
        let spelled: Vec<&str> = relative
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if is_private(&spelled.join("/")) {
            assert!(is_private(&n), "{p:?} -> {n:?} lost its privacy");
        }
    }
}
