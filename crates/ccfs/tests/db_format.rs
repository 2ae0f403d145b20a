//! The database the daemon writes is the one C pmxcfs writes (memdb.md §6):
//! same schema text, WAL mode, the `__version__` row, NULL for directories
//! and empty files, inode = version at creation, and a clean stop leaves no
//! WAL behind. Read with the `sqlite3` CLI, as an operator would.

mod common;

use common::json;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn sql(db: &Path, query: &str) -> String {
    let (st, out) = run_bounded(
        Command::new("sqlite3")
            .arg("-separator")
            .arg("|")
            .arg(db)
            .arg(query),
        Duration::from_secs(30),
    );
    assert!(
        st.is_some_and(|s| s.success()),
        "sqlite3 {query}: {out} (is the sqlite3 CLI installed?)"
    );
    out.trim_end().to_string()
}

#[test]
fn the_database_has_cs_schema_and_rows() {
    let mut w = Workdir::new();
    // the daemon creates a missing database directory (0750)
    let db_dir = w.root.join("fresh-db-dir");
    w.db = db_dir.join("config.db");
    w.lock_file = w.root.join("lockfile");
    let before = now();
    let mut n = Node::start_on(w);

    // the example of memdb.md §6.2, through FUSE in local mode (writer 0)
    n.mkdir_p("nodes");
    n.write("nodes/a.cfg", b"hello\n");
    n.write("empty", b"");
    fs::rename(n.p("nodes/a.cfg"), n.p("b.cfg")).unwrap();
    let after = now();
    n.stop();

    let dir_mode = fs::metadata(&db_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o750, "database directory mode");
    let db = n.work.db.clone();
    let file_mode = fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600, "config.db mode (memdb.md §6.1)");
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true),
        "a clean stop checkpoints the WAL"
    );

    let manifest = json::read(&vectors().join("db/local-rich/manifest.json"));
    assert_eq!(
        sql(&db, "SELECT sql FROM sqlite_master WHERE name = 'tree'"),
        manifest.at("schema").str(),
        "schema text identical to C's"
    );
    assert_eq!(
        sql(&db, "SELECT count(*) FROM sqlite_master"),
        "1",
        "one table, no other objects"
    );
    assert_eq!(sql(&db, "PRAGMA journal_mode"), "wal");

    let rows = sql(
        &db,
        "SELECT inode, parent, version, writer, type, name, \
         CASE WHEN data IS NULL THEN 'NULL' ELSE hex(data) END FROM tree ORDER BY inode",
    );
    assert_eq!(
        rows,
        "0|0|6|0|8|__version__|NULL\n\
         2|0|2|0|4|nodes|NULL\n\
         3|0|6|0|8|b.cfg|68656C6C6F0A\n\
         5|0|5|0|8|empty|NULL",
        "rows as in memdb.md §6.2 (writer 0 in local mode)"
    );
    let mtimes = sql(&db, "SELECT mtime FROM tree ORDER BY inode");
    for m in mtimes.lines() {
        let m: i64 = m.parse().unwrap();
        assert!(m >= before - 1 && m <= after + 1, "mtime {m}");
    }
    assert_eq!(
        sql(&db, "SELECT mtime FROM tree WHERE inode = 0"),
        sql(&db, "SELECT mtime FROM tree WHERE inode = 3"),
        "the version row carries the last change's mtime"
    );
}

#[test]
fn a_database_written_by_ccfs_loads_in_ccfs_again_with_the_same_rows() {
    let db = vectors().join("db/local-rich/config.db");
    let mut n = Node::start_with_db(&db);
    n.write("extra.cfg", b"x");
    n.stop();
    let rows_before = sql(&n.work.db, "SELECT inode, parent, version, writer, mtime, type, name, quote(data) FROM tree ORDER BY inode");
    n.restart();
    n.stop();
    let rows_after = sql(&n.work.db, "SELECT inode, parent, version, writer, mtime, type, name, quote(data) FROM tree ORDER BY inode");
    assert_eq!(rows_before, rows_after, "a start and stop changes no row");
    assert!(rows_after.contains("|extra.cfg|"));
    assert_eq!(sql(&n.work.db, "PRAGMA integrity_check"), "ok");
}

#[test]
fn with_pmxcfs_sqlite_settings_the_database_can_be_read_while_the_daemon_runs() {
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let mut d = spawn(&mut w, &["-f", "-l", "--sqlite", "pmxcfs"], &mount);
    if let Err(f) = wait_mounted(&mut d, &mount) {
        panic!("ccfs --sqlite pmxcfs did not mount: {f:?}");
    }
    fs::write(mount.join("seen.cfg"), "x").unwrap();
    // Written at close in local mode; another process reads it while the
    // daemon still runs (the default settings lock the file instead).
    assert_eq!(
        sql(&w.db, "SELECT name, data FROM tree WHERE name = 'seen.cfg'"),
        "seen.cfg|x"
    );
    // C's page size for a database it creates (memdb.md §6.1).
    assert_eq!(sql(&w.db, "PRAGMA page_size"), "4096");
    drop(d);
}

#[test]
fn with_the_default_settings_the_database_is_locked_while_the_daemon_runs() {
    let mut n = Node::start();
    n.write("x.cfg", b"x");
    let (st, out) = run_bounded(
        Command::new("sqlite3")
            .arg(&n.work.db)
            .arg("SELECT count(*) FROM tree"),
        Duration::from_secs(30),
    );
    assert!(
        !st.is_some_and(|s| s.success()) && out.contains("locked"),
        "sqlite3 while ccfs runs: {out}"
    );
    n.stop();
    assert!(
        sql(&n.work.db, "SELECT count(*) FROM tree")
            .parse::<u32>()
            .unwrap()
            >= 2
    );
}
