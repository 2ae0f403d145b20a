//! What the converged tree must hold of the writers' logs: every file its
//! last acknowledged value or a later one the writer tried (values only
//! grow), every acknowledged create there unless a delete followed, every
//! acknowledged delete gone.

use std::path::Path;

use super::writers::{text, Log};

/// What the tree answered for one path: its content, or None if absent.
pub type Lookup<'a> = dyn Fn(&str) -> std::io::Result<Option<String>> + 'a;

/// Read `rel` under `root`: Some(content), None if it does not exist.
pub fn read_under(root: &Path, rel: &str) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(root.join(rel)) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Default)]
pub struct Verdict {
    /// Paths checked (own files and created files).
    pub checked: u64,
    /// One line per acknowledged write the tree does not hold.
    pub lost: Vec<String>,
}

/// Check one writer's log against the tree `read` looks into.
pub fn check(log: &Log, read: &Lookup<'_>, v: &mut Verdict) {
    for f in &log.files {
        v.checked += 1;
        let floor = f.acked.unwrap_or(f.initial);
        match read(&f.rel) {
            Ok(Some(t)) => match t.parse::<u64>() {
                Ok(n) if n >= floor && n <= f.tried => {}
                _ => v.lost.push(format!(
                    "{}: holds {t:?}, acknowledged {:?}, last tried {}",
                    f.rel, f.acked, f.tried
                )),
            },
            other => v
                .lost
                .push(format!("{}: {other:?}, acknowledged {:?}", f.rel, f.acked)),
        }
    }
    for c in &log.created {
        v.checked += 1;
        let want = text(c.value);
        let got = read(&c.rel);
        let fine = match (&got, c.acked, c.deleted) {
            // The delete was acknowledged: gone.
            (Ok(None), _, Some(true)) => true,
            (Ok(Some(_)), _, Some(true)) => false,
            // Acknowledged, no delete tried: there.
            (Ok(None), true, None) => false,
            // A delete tried but not acknowledged, or a create that was
            // not: either way.
            (Ok(None), _, _) => true,
            // Whole if acknowledged; else maybe created before its write.
            (Ok(Some(t)), true, _) => *t == want,
            (Ok(Some(t)), false, _) => *t == want || t.is_empty(),
            (Err(_), _, _) => false,
        };
        if !fine {
            v.lost.push(format!(
                "{}: {got:?}, create acknowledged {}, delete {:?}",
                c.rel, c.acked, c.deleted
            ));
        }
    }
}
