//! The one place where errors become errnos.

use fuser::Errno;

use crate::node::NodeError;

/// The errno of a node/tree error, exactly as C pmxcfs returns it
/// (fuse.md §4, §6; memdb.md §4).
pub fn errno_of(e: &NodeError) -> Errno {
    Errno::from_i32(e.errno())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_memdb::Error;

    #[test]
    fn errnos_survive_the_layers() {
        let cases = [
            (NodeError::Tree(Error::NotFound), libc::ENOENT),
            (NodeError::Tree(Error::NotDir), libc::ENOTDIR),
            (NodeError::Tree(Error::IsDir), libc::EISDIR),
            (NodeError::Tree(Error::Exists), libc::EEXIST),
            (NodeError::Tree(Error::Access), libc::EACCES),
            (NodeError::Tree(Error::NotEmpty), libc::ENOTEMPTY),
            (NodeError::Tree(Error::FileTooBig), libc::EFBIG),
            (NodeError::Tree(Error::NoSpace("entries")), libc::ENOSPC),
            (NodeError::Tree(Error::ErrorMode), libc::EIO),
            (NodeError::Tree(Error::Invalid), libc::EINVAL),
            (NodeError::NotQuorate, libc::EACCES),
            (NodeError::Commit("disk full".into()), libc::EIO),
        ];
        for (e, want) in cases {
            assert_eq!(i32::from(errno_of(&e)), want, "{e:?}");
        }
    }
}
