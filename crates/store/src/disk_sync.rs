//! Forcing a committed database to the disk. With `synchronous=NORMAL`
//! (as in C) a commit reaches the WAL file in the page cache only: it
//! survives the death of the process, not a power loss until the kernel
//! writes it back (or the next checkpoint syncs). [`sync_to_disk`] is the
//! stricter step a daemon may take before it acknowledges a write.

use std::fs::File;
use std::path::{Path, PathBuf};

use ccfs_memdb::StoreError;

use crate::errors;

/// The WAL file SQLite keeps beside `db`.
fn wal_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn fsync(path: &Path) -> Result<(), StoreError> {
    // fsync writes back the file's dirty pages whoever wrote them: a
    // descriptor of our own serves for the connection's writes.
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| errors::io("sync", path, "cannot sync to disk", e))
}

/// fsync the database at `db`, its WAL (if there is one) and the directory
/// holding them (a WAL created since the last sync is reachable after a
/// power loss only through its directory entry). Everything committed
/// before the call is then on the disk, as far as the disk honours flushes.
pub fn sync_to_disk(db: &Path) -> Result<(), StoreError> {
    let wal = wal_of(db);
    if wal.exists() {
        fsync(&wal)?;
    }
    fsync(db)?;
    match db.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => fsync(dir),
        None => fsync(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_named_after_the_database() {
        assert_eq!(
            wal_of(Path::new("/var/lib/pve-cluster/config.db")),
            Path::new("/var/lib/pve-cluster/config.db-wal")
        );
    }
}
