//! Builders shared by the journal tests: changes as the daemon hands them
//! in, and a VM config text that changes a little per version.
#![allow(dead_code)]

use ccfs_journal::{Change, EntryKind, Journal, OpKind, OpenReport, Options, Origin, TreeEntry};
use std::path::Path;
use std::sync::Arc;

pub const T0: u32 = 1_700_000_000;

pub fn open(dir: &Path) -> (Journal, OpenReport) {
    Journal::open(dir, Options::default()).expect("open journal")
}

pub fn change(version: u64, op: OpKind, kind: EntryKind, path: &str) -> Change {
    Change {
        version,
        time: T0 + version as u32,
        writer: 1,
        node: "n1".into(),
        op,
        kind,
        path: path.into(),
        to: None,
        content: None,
        origin: Origin::Local,
    }
}

pub fn mkdir(version: u64, path: &str) -> Change {
    change(version, OpKind::Mkdir, EntryKind::Dir, path)
}

pub fn create(version: u64, path: &str, content: &[u8]) -> Change {
    Change {
        content: Some(Arc::from(content)),
        ..change(version, OpKind::Create, EntryKind::File, path)
    }
}

pub fn write(version: u64, path: &str, content: &[u8]) -> Change {
    Change {
        content: Some(Arc::from(content)),
        ..change(version, OpKind::Write, EntryKind::File, path)
    }
}

pub fn rename(version: u64, kind: EntryKind, from: &str, to: &str) -> Change {
    Change {
        to: Some(to.into()),
        ..change(version, OpKind::Rename, kind, from)
    }
}

pub fn delete(version: u64, kind: EntryKind, path: &str) -> Change {
    change(version, OpKind::Delete, kind, path)
}

/// A ~2 KiB qemu-server config; `rev` changes one line.
pub fn vm_config(vmid: u32, rev: u64) -> Vec<u8> {
    let mut s = format!(
        "boot: order=scsi0;net0\ncores: 4\nmemory: {}\nname: vm{vmid}\nostype: l26\n",
        2048 + rev * 16
    );
    for i in 0..8 {
        s.push_str(&format!(
            "net{i}: virtio=BC:24:11:{vmid:02X}:00:{i:02X},bridge=vmbr0,firewall=1\n"
        ));
    }
    for i in 0..6 {
        s.push_str(&format!(
            "scsi{i}: local-lvm:vm-{vmid}-disk-{i},iothread=1,size=32G,ssd=1,discard=on\n"
        ));
    }
    s.push_str("scsihw: virtio-scsi-single\nsmbios1: uuid=8a3f5e0c-1b2d-4c6e-9f70-123456789abc\n");
    s.push_str("vmgenid: 3c1e2f4a-5b6c-7d8e-9f00-abcdefabcdef\n");
    while s.len() < 2000 {
        s.push_str("# description line kept by the admin for documentation purposes\n");
    }
    s.into_bytes()
}

/// How Proxmox writes a config: create NAME.tmp.PID, write it, rename it
/// over NAME. Three versions from `v`.
pub fn proxmox_write(v: u64, path: &str, pid: u32, content: &[u8]) -> Vec<Change> {
    let tmp = format!("{path}.tmp.{pid}");
    vec![
        create(v, &tmp, b""),
        write(v + 1, &tmp, content),
        Change {
            content: Some(Arc::from(content)),
            ..rename(v + 2, EntryKind::File, &tmp, path)
        },
    ]
}

pub fn dir_entry(path: &str, version: u64) -> TreeEntry {
    TreeEntry {
        path: path.into(),
        kind: EntryKind::Dir,
        version,
        writer: 1,
        node: "n1".into(),
        mtime: T0 + version as u32,
        content: None,
    }
}

pub fn file_entry(path: &str, version: u64, content: &[u8]) -> TreeEntry {
    TreeEntry {
        path: path.into(),
        kind: EntryKind::File,
        version,
        writer: 2,
        node: "n2".into(),
        mtime: T0 + version as u32,
        content: Some(Arc::from(content)),
    }
}

/// The versions of a log answer, in order.
pub fn versions(records: &[ccfs_journal::Record]) -> Vec<u64> {
    records.iter().map(|r| r.version).collect()
}
