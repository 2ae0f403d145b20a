//! Who may do what on the control socket (the same rules as the pmxcfs IPC
//! socket): peer credentials decide the access level once per connection,
//! and tree paths are normalised before the private-path rule is applied,
//! so no spelling of a path reaches `priv/` for a read-only client.

use std::os::fd::AsRawFd;
use std::path::Path;

/// Kernel-supplied credentials of the peer (`SO_PEERCRED`, taken at connect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// What a connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Reads only, and nothing under a private path.
    ReadOnly,
    Refused,
}

impl Access {
    /// uid 0 may do everything; a client whose primary gid is www-data's may
    /// read; anyone else (even with www-data as a supplementary group, which
    /// lets them open the 0660 socket) is refused.
    pub fn of(cred: &Credentials, www_data_gid: u32) -> Access {
        if cred.uid == 0 {
            Access::ReadWrite
        } else if cred.gid == www_data_gid {
            Access::ReadOnly
        } else {
            Access::Refused
        }
    }

    /// May this client see `path` (normalised)?
    pub fn may_read(self, path: &str) -> bool {
        match self {
            Access::ReadWrite => true,
            Access::ReadOnly => !is_private(path),
            Access::Refused => false,
        }
    }
}

/// The peer credentials of a connected unix socket.
pub fn peer_credentials(sock: &impl AsRawFd) -> std::io::Result<Credentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Credentials {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// A path a client gave that cannot name anything in the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} contains a '..' component")]
    DotDot(String),
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
}

/// Canonical tree path of what a client wrote: `foo/bar`, `/foo/bar` and
/// `<mount>/foo/bar` all give `foo/bar`; empty and `.` components are
/// dropped; `..` is refused (the tree has no such entry, and refusing it
/// keeps a client from believing it escaped somewhere). The root is `""`.
pub fn normalize(path: &str, mount: &Path) -> Result<String, PathError> {
    if path.contains('\0') {
        return Err(PathError::Nul(path.to_string()));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(PathError::DotDot(path.to_string()));
    }
    let mut rest = &parts[..];
    // Only an absolute spelling can carry the mount point.
    if path.starts_with('/') {
        let mount_parts: Vec<&str> = mount
            .to_str()
            .unwrap_or("")
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if !mount_parts.is_empty() && rest.starts_with(&mount_parts) {
            rest = &rest[mount_parts.len()..];
        }
    }
    Ok(rest.join("/"))
}

/// `priv`, `priv/...`, `nodes/<X>/priv`, `nodes/<X>/priv/...` on a
/// normalised path.
pub fn is_private(normalized: &str) -> bool {
    let mut parts = normalized.split('/');
    match parts.next() {
        Some("priv") => true,
        Some("nodes") => parts.next().is_some() && parts.next() == Some("priv"),
        _ => false,
    }
}

/// `dir/name` for a child of a normalised directory (the root is `""`).
pub fn child_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Is `path` the normalised `subtree` itself or below it (`""` is the root)?
pub fn is_within(path: &str, subtree: &str) -> bool {
    subtree.is_empty()
        || path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize(p, Path::new("/etc/pve"))
    }

    #[test]
    fn credentials_decide_access() {
        let a = |uid, gid| Access::of(&Credentials { pid: 1, uid, gid }, 33);
        assert_eq!(a(0, 0), Access::ReadWrite);
        assert_eq!(a(0, 1000), Access::ReadWrite);
        assert_eq!(a(33, 33), Access::ReadOnly);
        assert_eq!(a(65534, 33), Access::ReadOnly);
        assert_eq!(a(33, 65534), Access::Refused);
        assert_eq!(a(1000, 0), Access::Refused);
    }

    #[test]
    fn spellings_of_one_path_normalise_alike() {
        for p in [
            "nodes/n1/lxc/100.conf",
            "/nodes/n1/lxc/100.conf",
            "/etc/pve/nodes/n1/lxc/100.conf",
            "//etc//pve/./nodes/n1//lxc/100.conf/",
            "./nodes/./n1/lxc/100.conf",
        ] {
            assert_eq!(norm(p).as_deref(), Ok("nodes/n1/lxc/100.conf"), "{p}");
        }
        assert_eq!(norm("/etc/pve").as_deref(), Ok(""));
        assert_eq!(norm("/").as_deref(), Ok(""));
        assert_eq!(norm("").as_deref(), Ok(""));
        // a relative etc/pve is a tree path, not the mount point
        assert_eq!(norm("etc/pve/x").as_deref(), Ok("etc/pve/x"));
        assert_eq!(norm("/etc/pvex/y").as_deref(), Ok("etc/pvex/y"));
    }

    #[test]
    fn dot_dot_and_nul_are_refused() {
        for p in ["..", "a/../b", "/etc/pve/../shadow", "priv/.."] {
            assert!(matches!(norm(p), Err(PathError::DotDot(_))), "{p}");
        }
        assert!(matches!(norm("a\0b"), Err(PathError::Nul(_))));
        assert_eq!(norm("a/..b/c").as_deref(), Ok("a/..b/c"));
    }

    #[test]
    fn private_paths() {
        for p in ["priv", "priv/token.cfg", "nodes/n1/priv", "nodes/n1/priv/k"] {
            assert!(is_private(p), "{p}");
            assert!(!Access::ReadOnly.may_read(p), "{p}");
            assert!(Access::ReadWrite.may_read(p), "{p}");
        }
        for p in [
            "",
            "nodes",
            "nodes/priv",
            "privx",
            "nodes/n1/privx",
            "a/priv",
        ] {
            assert!(!is_private(p), "{p}");
        }
        assert!(is_private(&norm("/etc/pve//nodes/n1/./priv/x").unwrap()));
    }

    #[test]
    fn subtrees() {
        assert!(is_within("a/b", ""));
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
        assert!(!is_within("a", "a/b"));
        assert_eq!(child_path("", "x"), "x");
        assert_eq!(child_path("a", "x"), "a/x");
    }
}
