//! Dispatch, shadowing, path building and modes of the adapter, driven
//! without a mount: the request functions are called directly on a node
//! backed by the in-memory store.

use std::ffi::OsStr;
use std::sync::Arc;

use ccfs_memdb::mem_store::MemStore;
use ccfs_memdb::{Limits, Memdb, ROOT};
use fuser::{Errno, FileType, FopenFlags, RenameFlags};

use super::ino::Target;
use super::{CcfsFs, FsConfig, NO_TTL, TREE_TTL};
use crate::logging::DebugSwitch;
use crate::node::{Durability, Node, Origin};
use crate::plugins::Plugin;
use crate::quorum::Quorum;
use crate::render::Renderer;

struct Fixed;
impl Renderer for Fixed {
    fn render(&self, file: Plugin, _db: &Memdb) -> Vec<u8> {
        format!("text of {}\n", file.name()).into_bytes()
    }
}

fn fs_with(quorum: Quorum) -> (CcfsFs, Arc<Node>) {
    let db = Memdb::new(Limits::default(), 1000);
    let node = Arc::new(Node::new(db, Box::new(MemStore::new()), quorum));
    let fs = CcfsFs::new(
        node.clone(),
        FsConfig {
            nodename: "n1".into(),
            www_data_gid: 33,
        },
        Arc::new(Fixed),
        DebugSwitch::detached(false),
        Arc::new(crate::metrics::Requests::new()),
    );
    (fs, node)
}

fn fs() -> (CcfsFs, Arc<Node>) {
    fs_with(Quorum::always())
}

const ROOT_INO: u64 = 1;

fn ino_of(node: &Node, path: &str) -> u64 {
    Target::Tree(node.read(|db| db.lookup(path).unwrap().inode)).ino()
}

#[test]
fn plugin_names_shadow_tree_entries_at_the_root_only() {
    let (fs, node) = fs();
    // entries a foreign implementation could have created
    node.create(Origin::Other, "local").unwrap();
    node.mkdir(Origin::Other, ".vmlist").unwrap();
    node.mkdir(Origin::Other, "sub").unwrap();
    node.create(Origin::Other, "sub/local").unwrap();

    let (a, _) = fs.do_lookup(ROOT_INO, OsStr::new("local")).unwrap();
    assert_eq!(a.kind, FileType::Symlink);
    assert_eq!(a.ino.0, Target::Plugin(Plugin::Local).ino());
    let (a, ttl) = fs.do_lookup(ROOT_INO, OsStr::new(".vmlist")).unwrap();
    assert_eq!(
        (a.kind, a.perm, ttl),
        (FileType::RegularFile, 0o440, NO_TTL)
    );
    // below the root the name is an ordinary tree entry
    let sub = ino_of(&node, "sub");
    let (a, ttl) = fs.do_lookup(sub, OsStr::new("local")).unwrap();
    assert_eq!((a.kind, ttl), (FileType::RegularFile, TREE_TTL));

    let names: Vec<String> = fs
        .listing(ROOT_INO)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "local").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == ".vmlist").count(), 1);
    assert!(names.contains(&"sub".to_string()));
    assert_eq!(&names[..2], &[".", ".."]);
    assert_eq!(names.len(), 2 + Plugin::ALL.len() + 1);

    // and cannot be modified through the plugin name
    assert_eq!(
        fs.do_remove(ROOT_INO, OsStr::new("local"), false),
        Err(Errno::EACCES)
    );
    assert_eq!(
        fs.do_rename(
            sub,
            OsStr::new("local"),
            ROOT_INO,
            OsStr::new(".debug"),
            RenameFlags::empty()
        ),
        Err(Errno::EACCES)
    );
    assert_eq!(
        fs.do_create(ROOT_INO, OsStr::new(".members")).err(),
        Some(Errno::EACCES)
    );
}

#[test]
fn paths_come_from_inodes_so_private_rules_hold() {
    let (fs, node) = fs();
    node.mkdir(Origin::Other, "priv").unwrap();
    node.create(Origin::Other, "priv/k").unwrap();
    let p = ino_of(&node, "priv");
    assert_eq!(fs.named_path(p, OsStr::new("k")).unwrap(), "priv/k");
    assert_eq!(fs.named_path(ROOT_INO, OsStr::new("x")).unwrap(), "x");
    let (a, _) = fs.do_lookup(p, OsStr::new("k")).unwrap();
    assert_eq!(a.perm, 0o600);
    let (a, _) = fs.do_getattr(p).unwrap();
    assert_eq!(a.perm, 0o700);
}

#[test]
fn root_and_inode_numbers() {
    let (fs, node) = fs();
    let (a, _) = fs.do_getattr(ROOT_INO).unwrap();
    assert_eq!((a.ino.0, a.perm, a.nlink), (1, 0o755, 2));
    let inode = node.create(Origin::Other, "f").unwrap();
    let (a, _) = fs.do_lookup(ROOT_INO, OsStr::new("f")).unwrap();
    assert_eq!(a.ino.0, inode + 1);
    assert_ne!(inode, ROOT);
}

#[test]
fn without_quorum_modes_lose_write_bits_and_changes_fail() {
    let q = Quorum::always();
    let (fs, node) = fs_with(q.clone());
    node.mkdir(Origin::Other, "d").unwrap();
    node.create(Origin::Other, "d/f").unwrap();
    q.set(false);
    let d = ino_of(&node, "d");
    assert_eq!(fs.do_getattr(d).unwrap().0.perm, 0o555);
    assert_eq!(fs.do_lookup(d, OsStr::new("f")).unwrap().0.perm, 0o440);
    let (l, _) = fs.do_lookup(ROOT_INO, OsStr::new("local")).unwrap();
    assert_eq!(l.perm, 0o555);
    let (dbg, _) = fs.do_lookup(ROOT_INO, OsStr::new(".debug")).unwrap();
    assert_eq!(dbg.perm, 0o640, "function files ignore quorum");
    assert_eq!(fs.do_mkdir(d, OsStr::new("x")).err(), Some(Errno::EACCES));
    assert_eq!(fs.do_remove(d, OsStr::new("f"), false), Err(Errno::EACCES));
    let f = ino_of(&node, "d/f");
    assert_eq!(fs.do_write(f, 0, 0, b"x").err(), Some(Errno::EACCES));
    // .debug stays writable
    let dbg_ino = Target::Plugin(Plugin::Debug).ino();
    assert_eq!(fs.do_write(dbg_ino, 0, 0, b"1\n"), Ok(2));
    assert!(fs.debug.is_on());
}

#[test]
fn function_files_snapshot_at_open_and_refuse_writes() {
    let (fs, _) = fs();
    let ino = Target::Plugin(Plugin::Version).ino();
    let (fh, flags) = fs.do_open(ino, libc::O_RDONLY).unwrap();
    assert!(flags.contains(FopenFlags::FOPEN_DIRECT_IO));
    assert_eq!(fs.do_read(ino, fh, 0, 4096).unwrap(), b"text of .version\n");
    assert_eq!(fs.do_read(ino, fh, 5, 2).unwrap(), b"of");
    assert_eq!(fs.do_read(ino, fh, 1000, 10).unwrap(), b"");
    assert_eq!(fs.do_write(ino, fh, 0, b"1\n"), Err(Errno::EIO));
    // O_TRUNC is a truncate: EIO except for .debug
    assert_eq!(
        fs.do_open(ino, libc::O_WRONLY | libc::O_TRUNC).err(),
        Some(Errno::EIO)
    );
    let dbg = Target::Plugin(Plugin::Debug).ino();
    assert!(fs.do_open(dbg, libc::O_WRONLY | libc::O_TRUNC).is_ok());
    assert_eq!(fs.do_write(dbg, 0, 2, b"1\n"), Err(Errno::EIO), "offset 2");
    // symlinks cannot be opened
    let local = Target::Plugin(Plugin::Local).ino();
    assert_eq!(fs.do_open(local, libc::O_RDONLY).err(), Some(Errno::EACCES));
    assert_eq!(fs.do_readlink(local).unwrap(), "nodes/n1");
}

#[test]
fn readers_keep_the_page_cache_only_while_the_file_is_unchanged() {
    let (fs, node) = fs();
    node.create(Origin::Other, "f").unwrap();
    let f = ino_of(&node, "f");
    let (_, first) = fs.do_open(f, libc::O_RDONLY).unwrap();
    assert!(first.contains(FopenFlags::FOPEN_NOFLUSH));
    assert!(!first.contains(FopenFlags::FOPEN_KEEP_CACHE));
    let (_, again) = fs.do_open(f, libc::O_RDONLY).unwrap();
    assert!(again.contains(FopenFlags::FOPEN_KEEP_CACHE));
    node.write(Origin::Other, Durability::Now, "f", 0, b"new", false)
        .unwrap();
    let (_, changed) = fs.do_open(f, libc::O_RDONLY).unwrap();
    assert!(!changed.contains(FopenFlags::FOPEN_KEEP_CACHE));
    let (_, w) = fs.do_open(f, libc::O_RDWR).unwrap();
    assert_eq!(w, FopenFlags::FOPEN_DIRECT_IO);
}

#[test]
fn open_with_o_trunc_truncates_and_commits_at_release() {
    let (fs, node) = fs();
    node.create(Origin::Other, "f").unwrap();
    node.write(Origin::Other, Durability::Now, "f", 0, b"old data", false)
        .unwrap();
    let f = ino_of(&node, "f");
    fs.do_open(f, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(fs.do_write(f, 0, 0, b"ab"), Ok(2));
    assert_eq!(node.read(|db| db.lookup("f").unwrap().data.clone()), b"ab");
    assert!(node.has_pending());
    fs.do_release(f, 0, libc::O_WRONLY).unwrap();
    assert!(!node.has_pending());
}

#[test]
fn readdir_listing_is_taken_once_per_handle() {
    let (fs, node) = fs();
    node.mkdir(Origin::Other, "d").unwrap();
    for i in 0..50 {
        node.create(Origin::Other, &format!("d/f{i:02}")).unwrap();
    }
    let d = ino_of(&node, "d");
    let (fh, flags) = fs.do_opendir(d).unwrap();
    assert!(flags.contains(FopenFlags::FOPEN_CACHE_DIR));
    node.create(Origin::Other, "d/late").unwrap();
    let items = fs.dir_items(fh).unwrap();
    assert_eq!(items.len(), 52, "snapshot: . .. and 50 files");
    assert_eq!(items[2].name, "f00");
    assert_eq!(
        fs.listing(d).unwrap().len(),
        53,
        "a new open sees the change"
    );
    assert_eq!(
        fs.listing(ino_of(&node, "d/f00")).err(),
        Some(Errno::ENOTDIR)
    );
}

#[test]
fn misses_are_cached_except_for_locks() {
    let (fs, node) = fs();
    assert_eq!(
        fs.negative_ttl(ROOT_INO, OsStr::new("nope")),
        Some(TREE_TTL)
    );
    node.mkdir(Origin::Other, "priv").unwrap();
    node.mkdir(Origin::Other, "priv/lock").unwrap();
    let lock = ino_of(&node, "priv/lock");
    assert_eq!(fs.negative_ttl(lock, OsStr::new("x")), Some(NO_TTL));
    node.create(Origin::Other, "f").unwrap();
    let f = ino_of(&node, "f");
    assert_eq!(fs.negative_ttl(f, OsStr::new("x")), None, "not a directory");
    assert_eq!(fs.negative_ttl(ROOT_INO, OsStr::new(".debug")), None);
}

#[test]
fn lock_directories_are_never_cached() {
    let (fs, node) = fs();
    node.mkdir(Origin::Other, "priv").unwrap();
    node.mkdir(Origin::Other, "priv/lock").unwrap();
    let lock = ino_of(&node, "priv/lock");
    let (_, ttl) = fs.do_mkdir(lock, OsStr::new("file-x")).unwrap();
    assert_eq!(ttl, NO_TTL);
    assert_eq!(fs.do_getattr(lock).unwrap().1, TREE_TTL);
}

#[test]
fn names_longer_than_1024_bytes_are_refused() {
    let (fs, _) = fs();
    let long = "x".repeat(1025);
    assert_eq!(
        fs.do_lookup(ROOT_INO, OsStr::new(&long)).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        fs.do_mkdir(ROOT_INO, OsStr::new(&long)).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert!(fs.do_mkdir(ROOT_INO, OsStr::new(&"y".repeat(1024))).is_ok());
}

#[test]
fn a_file_removed_or_replaced_while_open_stays_readable_through_its_handle() {
    let (fs, node) = fs();
    node.create(Origin::Other, "old").unwrap();
    node.write(
        Origin::Other,
        Durability::Now,
        "old",
        0,
        b"old content",
        false,
    )
    .unwrap();
    node.create(Origin::Other, "new").unwrap();
    node.write(Origin::Other, Durability::Now, "new", 0, b"new", false)
        .unwrap();
    let old = ino_of(&node, "old");
    fs.do_open(old, libc::O_RDONLY).unwrap();
    // atomic replace, as PVE's file_set_contents does
    fs.do_rename(
        ROOT_INO,
        OsStr::new("new"),
        ROOT_INO,
        OsStr::new("old"),
        RenameFlags::empty(),
    )
    .unwrap();
    assert_eq!(fs.do_read(old, 0, 4, 7).unwrap(), b"content");
    fs.do_release(old, 0, libc::O_RDONLY).unwrap();
    assert_eq!(fs.do_read(old, 0, 0, 3).err(), Some(Errno::ENOENT));

    // unlink of an open file
    let now = ino_of(&node, "old");
    fs.do_open(now, libc::O_RDONLY).unwrap();
    fs.do_remove(ROOT_INO, OsStr::new("old"), false).unwrap();
    assert_eq!(fs.do_read(now, 0, 0, 10).unwrap(), b"new");
    fs.do_release(now, 0, libc::O_RDONLY).unwrap();
}

#[test]
fn o_trunc_on_a_read_only_open_truncates_and_commits_at_once() {
    let (fs, node) = fs();
    node.create(Origin::Other, "f").unwrap();
    node.write(Origin::Other, Durability::Now, "f", 0, b"data", false)
        .unwrap();
    let f = ino_of(&node, "f");
    fs.do_open(f, libc::O_RDONLY).unwrap();
    let (_, flags) = fs.do_open(f, libc::O_RDONLY | libc::O_TRUNC).unwrap();
    assert!(!flags.contains(FopenFlags::FOPEN_KEEP_CACHE), "changed");
    assert!(node.read(|db| db.lookup("f").unwrap().data.is_empty()));
    assert!(!node.has_pending());
}
