//! The exports file: one export per line, kept in the replicated tree so
//! that every node serves the same exports (C nodes store it and serve
//! nothing).
//!
//! `NAME PATH mode=ro|rw uid=U gid=G [snapshot=S] [private=1]`, `#`
//! comments. PATH is a tree path (`/` is the root). A line that does not
//! parse is logged and ignored; the others still hold.

use thiserror::Error;

use ccfs_memdb::path::{is_private, normalize};

/// Where the exports are declared.
pub const EXPORTS_FILE: &str = "ccfs/exports.cfg";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "ro",
            Mode::ReadWrite => "rw",
        }
    }
}

/// One declared export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// Also the name of its mount directory.
    pub name: String,
    /// Normalised tree path ("" is the root).
    pub path: String,
    pub mode: Mode,
    /// Owner shown on every entry.
    pub uid: u32,
    pub gid: u32,
    /// Serve this snapshot's content instead of the live tree (read-only).
    pub snapshot: Option<String>,
    /// The export's path is inside `priv/` and may be served.
    pub private: bool,
}

impl Export {
    pub fn writable(&self) -> bool {
        self.mode == Mode::ReadWrite && self.snapshot.is_none()
    }
}

/// Why a line (or a requested export) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("export name {0:?}: 1-64 letters, digits, '_', '-', '.', not starting with '.'")]
    BadName(String),
    #[error("export {0}: no path")]
    MissingPath(String),
    #[error("export {name}: path {path:?} must not contain '..'")]
    PathEscapes { name: String, path: String },
    #[error("export {name}: unknown field {field:?}")]
    UnknownField { name: String, field: String },
    #[error("export {name}: {key}={value:?} is not valid")]
    BadValue {
        name: String,
        key: String,
        value: String,
    },
    #[error("export {name}: {key} is missing")]
    Missing { name: String, key: &'static str },
    #[error("export {0}: a snapshot export is read-only (mode=rw refused)")]
    WritableSnapshot(String),
    #[error("export {name}: {path:?} is private: it needs private=1")]
    PrivateNeedsFlag { name: String, path: String },
    #[error("export {name}: private=1 only for a path inside priv/ (not {path:?})")]
    PrivateOutside { name: String, path: String },
    #[error("export {0} is declared twice")]
    Duplicate(String),
}

/// Names usable as a directory under the export dir (and in a URL).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The checks every export passes, from the file or from `export add`.
pub fn validate(e: &Export) -> Result<(), ConfigError> {
    if !valid_name(&e.name) {
        return Err(ConfigError::BadName(e.name.clone()));
    }
    if e.path.split('/').any(|c| c == "..") {
        return Err(ConfigError::PathEscapes {
            name: e.name.clone(),
            path: e.path.clone(),
        });
    }
    if e.snapshot.is_some() && e.mode == Mode::ReadWrite {
        return Err(ConfigError::WritableSnapshot(e.name.clone()));
    }
    if let Some(s) = &e.snapshot {
        if !valid_name(s) {
            return Err(bad(&e.name, "snapshot", s));
        }
    }
    match (is_private(&e.path), e.private) {
        (true, false) => Err(ConfigError::PrivateNeedsFlag {
            name: e.name.clone(),
            path: e.path.clone(),
        }),
        (false, true) => Err(ConfigError::PrivateOutside {
            name: e.name.clone(),
            path: e.path.clone(),
        }),
        _ => Ok(()),
    }
}

fn bad(name: &str, key: &str, value: &str) -> ConfigError {
    ConfigError::BadValue {
        name: name.to_string(),
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// One line without its comment; `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Export>, ConfigError> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let raw_path = words
        .next()
        .ok_or_else(|| ConfigError::MissingPath(name.to_string()))?;
    let (mut mode, mut uid, mut gid) = (None, None, None);
    let (mut snapshot, mut private) = (None, false);
    for w in words {
        let (key, value) = w.split_once('=').ok_or_else(|| ConfigError::UnknownField {
            name: name.to_string(),
            field: w.to_string(),
        })?;
        let number = || value.parse::<u32>().map_err(|_| bad(name, key, value));
        match key {
            "mode" => {
                mode = Some(match value {
                    "ro" => Mode::ReadOnly,
                    "rw" => Mode::ReadWrite,
                    _ => return Err(bad(name, key, value)),
                })
            }
            "uid" => uid = Some(number()?),
            "gid" => gid = Some(number()?),
            "snapshot" => snapshot = Some(value.to_string()),
            "private" => {
                private = match value {
                    "1" | "yes" | "true" => true,
                    "0" | "no" | "false" => false,
                    _ => return Err(bad(name, key, value)),
                }
            }
            _ => {
                return Err(ConfigError::UnknownField {
                    name: name.to_string(),
                    field: w.to_string(),
                })
            }
        }
    }
    let missing = |key| ConfigError::Missing {
        name: name.to_string(),
        key,
    };
    let e = Export {
        name: name.to_string(),
        path: normalize(raw_path),
        mode: mode.ok_or_else(|| missing("mode"))?,
        uid: uid.ok_or_else(|| missing("uid"))?,
        gid: gid.ok_or_else(|| missing("gid"))?,
        snapshot,
        private,
    };
    if raw_path.split('/').any(|c| c == "..") {
        return Err(ConfigError::PathEscapes {
            name: e.name,
            path: raw_path.to_string(),
        });
    }
    validate(&e)?;
    Ok(Some(e))
}

/// The whole file: the exports that parse (the first of a duplicated
/// name wins) and what was wrong with the others, by line number.
pub fn parse(text: &str) -> (Vec<Export>, Vec<(usize, ConfigError)>) {
    let mut exports: Vec<Export> = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(e)) if exports.iter().any(|x| x.name == e.name) => {
                bad.push((n + 1, ConfigError::Duplicate(e.name)))
            }
            Ok(Some(e)) => exports.push(e),
            Err(err) => bad.push((n + 1, err)),
        }
    }
    (exports, bad)
}

/// The file's text for a set of exports, sorted by name.
pub fn render(exports: &[Export]) -> String {
    let mut sorted = exports.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out =
        String::from("# ccfs exports: NAME PATH mode=ro|rw uid=U gid=G [snapshot=S] [private=1]\n");
    for e in sorted {
        let path = if e.path.is_empty() { "/" } else { &e.path };
        out.push_str(&format!(
            "{} {} mode={} uid={} gid={}",
            e.name,
            path,
            e.mode.as_str(),
            e.uid,
            e.gid
        ));
        if let Some(s) = &e.snapshot {
            out.push_str(&format!(" snapshot={s}"));
        }
        if e.private {
            out.push_str(" private=1");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(name: &str, path: &str, mode: Mode) -> Export {
        Export {
            name: name.into(),
            path: path.into(),
            mode,
            uid: 1000,
            gid: 1000,
            snapshot: None,
            private: false,
        }
    }

    #[test]
    fn lines_parse_and_render_back() {
        let text = "# comment\n\
                    vm100 /exports/vm100 mode=rw uid=100000 gid=100000\n\
                    \n\
                    old exports/vm100 mode=ro uid=0 gid=33 snapshot=s1 # trailing\n\
                    keys priv/keys mode=ro uid=0 gid=0 private=1\n";
        let (exports, bad) = parse(text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(exports.len(), 3);
        assert_eq!(exports[0].path, "exports/vm100");
        assert_eq!(exports[0].mode, Mode::ReadWrite);
        assert!(exports[0].writable());
        assert_eq!(exports[1].snapshot.as_deref(), Some("s1"));
        assert!(!exports[1].writable());
        assert!(exports[2].private);
        let (again, bad) = parse(&render(&exports));
        assert!(bad.is_empty());
        let mut sorted = exports.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(again, sorted);
        let root = export("all", "", Mode::ReadOnly);
        assert!(render(std::slice::from_ref(&root)).contains("all / mode=ro"));
        assert_eq!(parse(&render(std::slice::from_ref(&root))).0, vec![root]);
    }

    #[test]
    fn bad_lines_are_typed_and_ignored() {
        let text = "ok a mode=ro uid=1 gid=1\n\
                    .hidden a mode=ro uid=1 gid=1\n\
                    nopath\n\
                    up a/../priv mode=ro uid=1 gid=1\n\
                    field a mode=ro uid=1 gid=1 color=red\n\
                    num a mode=ro uid=x gid=1\n\
                    mode a mode=rx uid=1 gid=1\n\
                    nouid a mode=ro gid=1\n\
                    snap a mode=rw uid=1 gid=1 snapshot=s\n\
                    secret priv/x mode=ro uid=1 gid=1\n\
                    loose nodes/n1 mode=ro uid=1 gid=1 private=1\n\
                    ok b mode=rw uid=2 gid=2\n\
                    bare a mode=ro uid=1 gid=1 word\n";
        let (exports, bad) = parse(text);
        assert_eq!(exports.len(), 1);
        assert_eq!(exports[0].path, "a");
        let kinds: Vec<(usize, &ConfigError)> = bad.iter().map(|(n, e)| (*n, e)).collect();
        assert!(matches!(kinds[0], (2, ConfigError::BadName(_))));
        assert!(matches!(kinds[1], (3, ConfigError::MissingPath(_))));
        assert!(matches!(kinds[2], (4, ConfigError::PathEscapes { .. })));
        assert!(matches!(kinds[3], (5, ConfigError::UnknownField { .. })));
        assert!(matches!(kinds[4], (6, ConfigError::BadValue { .. })));
        assert!(matches!(kinds[5], (7, ConfigError::BadValue { .. })));
        assert!(matches!(
            kinds[6],
            (8, ConfigError::Missing { key: "uid", .. })
        ));
        assert!(matches!(kinds[7], (9, ConfigError::WritableSnapshot(_))));
        assert!(matches!(
            kinds[8],
            (10, ConfigError::PrivateNeedsFlag { .. })
        ));
        assert!(matches!(kinds[9], (11, ConfigError::PrivateOutside { .. })));
        assert!(matches!(kinds[10], (12, ConfigError::Duplicate(_))));
        assert!(matches!(kinds[11], (13, ConfigError::UnknownField { .. })));
        assert_eq!(bad.len(), 12);
    }

    #[test]
    fn names_are_directory_names() {
        assert!(valid_name("vm-100_a.b"));
        for bad in ["", ".x", "a/b", "a b", "..", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let mut e = export("n", "nodes/n1/priv/x", Mode::ReadOnly);
        assert!(matches!(
            validate(&e),
            Err(ConfigError::PrivateNeedsFlag { .. })
        ));
        e.private = true;
        assert_eq!(validate(&e), Ok(()));
    }
}
