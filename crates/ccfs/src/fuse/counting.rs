//! Every FUSE operation by name, and the one call per request that counts
//! it (`crate::metrics`): its errno and how long the daemon took.

use std::time::{Duration, Instant};

use fuser::Errno;

use super::CcfsFs;

macro_rules! fuse_ops {
    ($($op:ident = $name:literal),* $(,)?) => {
        /// The operations of the `fuser::Filesystem` implementation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum FuseOp { $($op),* }

        impl FuseOp {
            /// Label values, in the order of the variants.
            pub const NAMES: &'static [&'static str] = &[$($name),*];
        }
    };
}

fuse_ops!(
    Lookup = "lookup",
    Getattr = "getattr",
    Setattr = "setattr",
    Readlink = "readlink",
    Mknod = "mknod",
    Mkdir = "mkdir",
    Unlink = "unlink",
    Rmdir = "rmdir",
    Symlink = "symlink",
    Rename = "rename",
    Link = "link",
    Open = "open",
    Read = "read",
    Write = "write",
    Flush = "flush",
    Release = "release",
    Fsync = "fsync",
    Opendir = "opendir",
    Readdir = "readdir",
    Releasedir = "releasedir",
    Fsyncdir = "fsyncdir",
    Statfs = "statfs",
    Setxattr = "setxattr",
    Getxattr = "getxattr",
    Listxattr = "listxattr",
    Removexattr = "removexattr",
    Create = "create",
    Access = "access",
    Ioctl = "ioctl",
    Poll = "poll",
    Fallocate = "fallocate",
    Lseek = "lseek",
    CopyFileRange = "copy_file_range",
);

impl CcfsFs {
    /// Count a request that started at `since` and ended with `result`.
    /// Written `self.counted(op, Instant::now(), self.do_op(..))`: Rust
    /// evaluates arguments left to right, so the clock is read before the
    /// operation runs.
    pub(super) fn counted<T>(
        &self,
        op: FuseOp,
        since: Instant,
        result: Result<T, Errno>,
    ) -> Result<T, Errno> {
        let errno = match &result {
            Ok(_) => 0,
            Err(e) => i32::from(*e),
        };
        self.requests.fuse_done(op, errno, since.elapsed());
        result
    }

    /// Count a request refused without any work (operations ccfs lacks).
    pub(super) fn refused(&self, op: FuseOp, errno: Errno) -> Errno {
        self.requests
            .fuse_done(op, i32::from(errno), Duration::ZERO);
        errno
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_variants() {
        assert_eq!(FuseOp::NAMES.len(), FuseOp::CopyFileRange as usize + 1);
        assert_eq!(FuseOp::NAMES[FuseOp::Lookup as usize], "lookup");
        assert_eq!(FuseOp::NAMES[FuseOp::Create as usize], "create");
        assert_eq!(
            FuseOp::NAMES[FuseOp::CopyFileRange as usize],
            "copy_file_range"
        );
    }
}
