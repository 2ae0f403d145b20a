//! Files the store cannot use, and other processes on the same database:
//! always a clear StoreError naming the file, never a panic, and never a
//! change to data the store could not read.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ccfs_memdb::{Batch, Root, Row, Store, StoreError};
use ccfs_store::{SqliteStore, StoreOptions};
use common::{copy_vector, tempdir};

fn open_err(path: &Path, options: &StoreOptions) -> StoreError {
    SqliteStore::open(path, options).expect_err("open must fail")
}

fn assert_names(err: &StoreError, path: &Path, words: &[&str]) {
    let text = err.to_string();
    eprintln!("error: {text}");
    assert!(
        text.contains(&path.display().to_string()),
        "{text:?} does not name {}",
        path.display()
    );
    for w in words {
        assert!(text.contains(w), "{text:?} does not say {w:?}");
    }
}

fn file_row(inode: i64, data: &[u8]) -> Row {
    Row {
        inode,
        parent: 0,
        version: inode,
        writer: 0,
        mtime: 1,
        kind: 8,
        name: format!("f{inode}"),
        data: Some(data.to_vec()),
    }
}

fn root(version: u64) -> Option<Root> {
    Some(Root {
        version,
        writer: 0,
        mtime: 1,
    })
}

#[test]
fn not_a_database_is_refused_and_left_alone() {
    let tmp = tempdir();
    let path = tmp.path().join("config.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    for options in [StoreOptions::default(), StoreOptions::pmxcfs()] {
        let err = open_err(&path, &options);
        assert_eq!(err.op, "open");
        assert_names(&err, &path, &["not a database"]);
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "file changed");
    }
}

#[test]
fn damaged_database_is_refused_before_any_write() {
    let tmp = copy_vector("local-rich", &["config.db"]);
    let path = tmp.path().join("config.db");
    let mut bytes = std::fs::read(&path).unwrap();
    // Wipe the b-tree page header of page 2 (the tree's root page).
    bytes[4096..4096 + 64].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let err = open_err(&path, &StoreOptions::default());
    assert_eq!(err.op, "open");
    assert_names(&err, &path, &["corrupt"]);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "file changed");
}

#[test]
fn foreign_table_layout_is_refused() {
    let tmp = tempdir();
    let path = tmp.path().join("config.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE tree (inode INTEGER PRIMARY KEY, blob BLOB)")
        .unwrap();
    drop(conn);
    let err = open_err(&path, &StoreOptions::default());
    assert_names(&err, &path, &["columns", "blob"]);
}

#[test]
fn unusable_paths_give_clear_errors() {
    let tmp = tempdir();
    // The path is a directory.
    let dir = tmp.path().join("config.db");
    std::fs::create_dir(&dir).unwrap();
    let err = open_err(&dir, &StoreOptions::default());
    assert_eq!(err.op, "open");
    assert_names(&err, &dir, &[]);
    // The parent "directory" is a regular file.
    let file = tmp.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let below = file.join("config.db");
    let err = open_err(&below, &StoreOptions::default());
    assert_names(&err, &file, &["is not a directory"]);
    // A parent that cannot be created (below a regular file).
    let deeper = file.join("sub/config.db");
    let err = open_err(&deeper, &StoreOptions::default());
    assert_names(&err, &file, &["cannot create directory"]);
}

#[test]
fn missing_parent_directory_is_created_0750_and_file_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    let path = tmp.path().join("pve-cluster/config.db");
    drop(SqliteStore::open(&path, &StoreOptions::default()).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(path.parent().unwrap()), 0o750);
    assert_eq!(mode(&path), 0o600);
    // An existing file with other bits is tightened, as C does.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(SqliteStore::open(&path, &StoreOptions::default()).unwrap());
    assert_eq!(mode(&path), 0o600);
}

/// `chattr +i` makes a directory read-only even for root (tests run as
/// root here); the guard removes the flag again, also on failure.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn set(path: &'a Path) -> Immutable<'a> {
        let status = Command::new("chattr").arg("+i").arg(path).status().unwrap();
        assert!(status.success(), "chattr +i {} failed", path.display());
        Immutable(path)
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[test]
fn read_only_directory_fails_at_open_not_later() {
    let tmp = tempdir();
    let dir = tmp.path().join("db");
    let path = dir.join("config.db");
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    store
        .commit(&Batch {
            upserts: vec![file_row(2, b"kept")],
            root: root(2),
            ..Batch::default()
        })
        .unwrap();
    drop(store); // clean close: no -wal left, so one must be created
    let before = std::fs::read(&path).unwrap();
    {
        let _ro = Immutable::set(&dir);
        for options in [StoreOptions::default(), StoreOptions::pmxcfs()] {
            let err = open_err(&path, &options);
            assert_eq!(err.op, "open");
            assert_names(&err, &path, &[]);
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let rows = SqliteStore::open(&path, &StoreOptions::default())
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(rows.len(), 2);
}

/// The `sqlite3` tool as a second process, fed line by line.
struct Sqlite3 {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Sqlite3 {
    fn start(path: &Path) -> Sqlite3 {
        let mut child = Command::new("sqlite3")
            .arg("-batch")
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sqlite3 (Debian package sqlite3)");
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Sqlite3 {
            child,
            stdin,
            lines,
        }
    }

    /// Run `sql` and return its output up to a marker line.
    fn run(&mut self, sql: &str) -> Vec<String> {
        writeln!(self.stdin, "{sql}\nSELECT 'done-marker';").unwrap();
        self.stdin.flush().unwrap();
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .expect("sqlite3 answers within 20 s");
            if line == "done-marker" {
                return out;
            }
            out.push(line);
        }
    }
}

impl Drop for Sqlite3 {
    fn drop(&mut self) {
        // Ends only the process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn second_process_is_kept_out_while_the_store_holds_the_file() {
    let tmp = tempdir();
    let path = tmp.path().join("config.db");
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    let first = Batch {
        upserts: vec![file_row(2, b"one")],
        root: root(2),
        ..Batch::default()
    };
    store.commit(&first).unwrap();
    let mut other = Sqlite3::start(&path);
    other.run(".timeout 100");
    let out = other
        .run("SELECT count(*) FROM tree;\nINSERT INTO tree VALUES (9,0,9,0,1,8,'intruder',NULL);");
    assert!(
        out.iter().any(|l| l.contains("database is locked")),
        "second process got in: {out:?}"
    );
    store
        .commit(&Batch {
            upserts: vec![file_row(3, b"two")],
            root: root(3),
            ..Batch::default()
        })
        .unwrap();
    let rows = store.load().unwrap();
    assert_eq!(
        rows.iter().map(|r| r.inode).collect::<Vec<_>>(),
        vec![0, 2, 3]
    );
    store.integrity_check().unwrap();
}

#[test]
fn shared_lock_mode_lets_another_process_in_without_damage() {
    let tmp = tempdir();
    let path = tmp.path().join("config.db");
    let options = StoreOptions {
        exclusive_lock: false,
        busy_timeout: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let mut store = SqliteStore::open(&path, &options).unwrap();
    store
        .commit(&Batch {
            upserts: vec![file_row(2, b"one")],
            root: root(2),
            ..Batch::default()
        })
        .unwrap();
    let mut other = Sqlite3::start(&path);
    assert_eq!(
        other.run("SELECT name FROM tree WHERE inode = 2;"),
        vec!["f2"]
    );
    // The other process holds the write lock: our commit fails cleanly
    // after the busy timeout and leaves nothing behind.
    assert_eq!(other.run("BEGIN IMMEDIATE;"), Vec::<String>::new());
    let blocked = Batch {
        upserts: vec![file_row(3, b"blocked")],
        root: root(3),
        ..Batch::default()
    };
    let err = store.commit(&blocked).expect_err("commit while locked");
    assert_eq!(err.op, "commit");
    assert_names(&err, &path, &["locked"]);
    other.run("INSERT INTO tree VALUES (9,0,9,0,1,8,'theirs',NULL); COMMIT;");
    // After release, our commit goes through and both writes are there.
    store.commit(&blocked).unwrap();
    let names: Vec<String> = store.load().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["__version__", "f2", "f3", "theirs"]);
    store.integrity_check().unwrap();
    assert_eq!(other.run("PRAGMA integrity_check;"), vec!["ok"]);
}

/// Write rows the store cannot represent with the `sqlite3` tool, then
/// load: the error names the row's inode and the column.
fn load_err_after(schema: &str, sql: &str) -> (tempfile::TempDir, StoreError) {
    let tmp = tempdir();
    let path = tmp.path().join("config.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(schema).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    let mut store = SqliteStore::open(&path, &StoreOptions::pmxcfs()).unwrap();
    let err = store.load().expect_err("load must fail");
    assert_eq!(err.op, "load");
    assert_names(&err, &path, &[]);
    (tmp, err)
}

#[test]
fn rows_that_are_not_representable_name_their_inode() {
    let ok_rows = "INSERT INTO tree VALUES (0,0,7,0,1,8,'__version__',NULL);
                   INSERT INTO tree VALUES (2,0,2,0,1,8,'fine',x'00');";
    // C's own schema: a name that is not UTF-8.
    let (_t, err) = load_err_after(
        ccfs_store::SCHEMA,
        &format!("{ok_rows} INSERT INTO tree VALUES (5,0,5,0,1,8,CAST(x'c328' AS TEXT),NULL);"),
    );
    assert_names(&err, Path::new(""), &["inode 5", "UTF-8"]);
    // Without C's CHECKs (same column names), other types can get in.
    let loose = "CREATE TABLE tree (inode INTEGER PRIMARY KEY NOT NULL, parent, version, \
                 writer, mtime, type, name, data)";
    for (column, row, words) in [
        (
            "parent",
            "(6,'x',6,0,1,8,'p',NULL)",
            &["inode 6", "parent", "text"][..],
        ),
        (
            "mtime",
            "(7,0,7,0,1.5,8,'m',NULL)",
            &["inode 7", "mtime", "real"][..],
        ),
        (
            "name",
            "(8,0,8,0,1,8,NULL,NULL)",
            &["inode 8", "name", "null"][..],
        ),
        (
            "data",
            "(9,0,9,0,1,8,'d',42)",
            &["inode 9", "data", "integer"][..],
        ),
    ] {
        let (_t, err) = load_err_after(loose, &format!("{ok_rows} INSERT INTO tree VALUES {row};"));
        let text = err.to_string().to_lowercase();
        for w in words {
            assert!(
                text.contains(&w.to_lowercase()),
                "{column}: {text:?} lacks {w:?}"
            );
        }
    }
}
