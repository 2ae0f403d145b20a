//! Facts about the host the daemon needs at start (fuse.md §1.2 steps 1–2):
//! the node name, its non-loopback address, the www-data group.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, ToSocketAddrs};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HostError {
    #[error("uname failed: {0}")]
    Uname(std::io::Error),
    #[error("invalid node name '{0}'")]
    BadNodeName(String),
    #[error("Unable to resolve node name '{0}' to a non-loopback IP address - missing entry in '/etc/hosts' or DNS?")]
    Unresolvable(String),
    #[error("invalid node IP '{0}'")]
    BadNodeIp(String),
    #[error("Unable to get www-data group ID: group '{0}' does not exist")]
    NoGroup(String),
}

/// The host name up to the first dot (C: `uname` nodename, cut at '.').
pub fn nodename_from_uname() -> Result<String, HostError> {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(HostError::Uname(std::io::Error::last_os_error()));
    }
    // SAFETY: uname NUL-terminates nodename.
    let full = unsafe { CStr::from_ptr(uts.nodename.as_ptr()) }.to_string_lossy();
    Ok(short_name(&full).to_string())
}

/// The part of a host name before the first dot.
pub fn short_name(full: &str) -> &str {
    full.split('.').next().unwrap_or(full)
}

/// Node names end up in paths (`nodes/<name>`): no slash, not empty.
pub fn check_nodename(name: &str) -> Result<(), HostError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(HostError::BadNodeName(name.to_string()));
    }
    Ok(())
}

/// First address of `name` that is not loopback (C: getaddrinfo, reject
/// 127.* and ::1; IPv4-mapped addresses count as IPv4).
pub fn resolve_node_ip(name: &str) -> Result<IpAddr, HostError> {
    let addrs = (name, 0u16)
        .to_socket_addrs()
        .map_err(|_| HostError::Unresolvable(name.to_string()))?;
    addrs
        .map(|a| a.ip())
        .map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        })
        .find(|ip| !ip.is_loopback())
        .ok_or_else(|| HostError::Unresolvable(name.to_string()))
}

pub fn parse_node_ip(text: &str) -> Result<IpAddr, HostError> {
    text.parse()
        .map_err(|_| HostError::BadNodeIp(text.to_string()))
}

/// The gid of a group, by name.
pub fn group_gid(name: &str) -> Result<u32, HostError> {
    let cname = CString::new(name).map_err(|_| HostError::NoGroup(name.to_string()))?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives it.
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
        return Err(HostError::NoGroup(name.to_string()));
    }
    Ok(grp.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_cuts_at_first_dot() {
        assert_eq!(short_name("pve1.example.com"), "pve1");
        assert_eq!(short_name("pve1"), "pve1");
    }

    #[test]
    fn loopback_only_names_are_refused() {
        assert!(matches!(
            resolve_node_ip("localhost"),
            Err(HostError::Unresolvable(_))
        ));
    }

    #[test]
    fn group_lookup() {
        assert_eq!(group_gid("root").unwrap(), 0);
        assert!(matches!(
            group_gid("no-such-group-ccfs"),
            Err(HostError::NoGroup(_))
        ));
    }

    #[test]
    fn node_names_must_be_path_safe() {
        assert!(check_nodename("pve1").is_ok());
        assert!(check_nodename("a/b").is_err());
        assert!(check_nodename("").is_err());
    }
}
