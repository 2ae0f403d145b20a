//! Access control (ipc.md §3): who may connect, who may write, and which
//! paths are private.

/// Kernel-supplied credentials of a client (`SCM_CREDENTIALS`, ipc.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What a connection may do, decided once at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// SET_STATUS, LOG_CLUSTER_MSG and private GET_CONFIG answer EPERM.
    ReadOnly,
    Refused,
}

/// C's `s1_connection_accept_fn`: root:root is read-write, the www-data
/// group (any uid) read-only, anyone else refused.
pub fn access_for(cred: &Credentials, www_data_gid: u32) -> Access {
    if cred.uid == 0 && cred.gid == 0 {
        Access::ReadWrite
    } else if cred.gid == www_data_gid {
        Access::ReadOnly
    } else {
        Access::Refused
    }
}

/// Canonical relative form of a tree path: no leading, trailing or repeated
/// `/`, no `.` components. `..` is kept as a name (the tree has no such
/// entry, so it never escapes anywhere).
pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// `path_is_private` on a **normalised** path: `priv`, `priv/…`,
/// `nodes/<X>/priv`, `nodes/<X>/priv/…`. Normalising first closes C's hole
/// where `nodes/<n>//priv/…` was not recognised (ipc.md §3 security note).
pub fn is_private(normalized: &str) -> bool {
    let mut parts = normalized.split('/');
    match parts.next() {
        Some("priv") => true,
        Some("nodes") => parts.next().is_some() && parts.next() == Some("priv"),
        _ => false,
    }
}

/// The gid of a group name (e.g. `www-data`), from the system's group database.
pub fn group_gid(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: group is plain old data; getgrnam_r fills it using `buf`.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(grp.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_table_of_c() {
        let c = |uid, gid| access_for(&Credentials { pid: 1, uid, gid }, 33);
        assert_eq!(c(0, 0), Access::ReadWrite);
        assert_eq!(c(0, 33), Access::ReadOnly);
        assert_eq!(c(33, 33), Access::ReadOnly);
        assert_eq!(c(0, 1000), Access::Refused);
        assert_eq!(c(1000, 0), Access::Refused);
        assert_eq!(c(65534, 65534), Access::Refused);
    }

    #[test]
    fn private_paths_cannot_be_reached_through_odd_spellings() {
        for p in [
            "priv",
            "priv/token.cfg",
            "/priv/token.cfg",
            "//priv//token.cfg",
            "./priv/x",
            "nodes/node1/priv",
            "nodes/node1/priv/pve-ssl.key",
            "nodes/node1//priv/pve-ssl.key",
            "nodes//node1/priv/pve-ssl.key",
            "/nodes/./node1/./priv/x",
            "nodes/node1/priv/",
        ] {
            assert!(is_private(&normalize(p)), "{p}");
        }
        for p in [
            "datacenter.cfg",
            "nodes/node1/qemu-server/100.conf",
            "nodes/priv",
            "privx",
            "nodes",
            "",
        ] {
            assert!(!is_private(&normalize(p)), "{p}");
        }
    }

    #[test]
    fn group_lookup() {
        assert_eq!(group_gid("root"), Some(0));
        assert_eq!(group_gid("no-such-group-ccfs"), None);
    }

    #[test]
    fn normalize_strips_slashes_and_dots() {
        assert_eq!(normalize("/storage.cfg"), "storage.cfg");
        assert_eq!(normalize("a//b/./c/"), "a/b/c");
        assert_eq!(normalize("a/../b"), "a/../b");
        assert_eq!(normalize("/"), "");
    }
}
