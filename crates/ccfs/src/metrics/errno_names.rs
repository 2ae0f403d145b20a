//! Errno label values: `0` for success, the symbolic name for a Linux
//! errno, `other` for a number Linux does not define. Counters are kept in
//! one slot per errno number, so counting needs no lookup table of names.

macro_rules! errno_names {
    ($($name:ident),* $(,)?) => {
        /// The symbolic name of a Linux errno (aliases such as EWOULDBLOCK
        /// under their primary name).
        pub fn name(errno: i32) -> Option<&'static str> {
            match errno {
                $(libc::$name => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}

errno_names!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    ENOTBLK,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    EDOM,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENOMSG,
    EIDRM,
    ECHRNG,
    EL2NSYNC,
    EL3HLT,
    EL3RST,
    ELNRNG,
    EUNATCH,
    ENOCSI,
    EL2HLT,
    EBADE,
    EBADR,
    EXFULL,
    ENOANO,
    EBADRQC,
    EBADSLT,
    EBFONT,
    ENOSTR,
    ENODATA,
    ETIME,
    ENOSR,
    ENONET,
    ENOPKG,
    EREMOTE,
    ENOLINK,
    EADV,
    ESRMNT,
    ECOMM,
    EPROTO,
    EMULTIHOP,
    EDOTDOT,
    EBADMSG,
    EOVERFLOW,
    ENOTUNIQ,
    EBADFD,
    EREMCHG,
    ELIBACC,
    ELIBBAD,
    ELIBSCN,
    ELIBMAX,
    ELIBEXEC,
    EILSEQ,
    ERESTART,
    ESTRPIPE,
    EUSERS,
    ENOTSOCK,
    EDESTADDRREQ,
    EMSGSIZE,
    EPROTOTYPE,
    ENOPROTOOPT,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    EOPNOTSUPP,
    EPFNOSUPPORT,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ENETDOWN,
    ENETUNREACH,
    ENETRESET,
    ECONNABORTED,
    ECONNRESET,
    ENOBUFS,
    EISCONN,
    ENOTCONN,
    ESHUTDOWN,
    ETOOMANYREFS,
    ETIMEDOUT,
    ECONNREFUSED,
    EHOSTDOWN,
    EHOSTUNREACH,
    EALREADY,
    EINPROGRESS,
    ESTALE,
    EUCLEAN,
    ENOTNAM,
    ENAVAIL,
    EISNAM,
    EREMOTEIO,
    EDQUOT,
    ENOMEDIUM,
    EMEDIUMTYPE,
    ECANCELED,
    ENOKEY,
    EKEYEXPIRED,
    EKEYREVOKED,
    EKEYREJECTED,
    EOWNERDEAD,
    ENOTRECOVERABLE,
    ERFKILL,
    EHWPOISON,
);

/// The highest errno Linux defines (EHWPOISON).
const HIGHEST: usize = libc::EHWPOISON as usize;
/// Slots per operation: success, every errno number, one for the rest.
pub const SLOTS: usize = HIGHEST + 2;
const OTHER: usize = SLOTS - 1;

/// The counter slot of an errno (0 = success).
pub fn slot(errno: i32) -> usize {
    match errno {
        0 => 0,
        e if name(e).is_some() => e as usize,
        _ => OTHER,
    }
}

/// The label value of a slot.
pub fn label(slot: usize) -> &'static str {
    match slot {
        0 => "0",
        OTHER => "other",
        s => i32::try_from(s).ok().and_then(name).unwrap_or("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_linux_names() {
        assert_eq!(name(libc::ENOENT), Some("ENOENT"));
        assert_eq!(name(libc::EEXIST), Some("EEXIST"));
        assert_eq!(name(libc::EDQUOT), Some("EDQUOT"));
        assert_eq!(name(libc::EWOULDBLOCK), Some("EAGAIN"));
        assert_eq!(name(libc::ENOTSUP), Some("EOPNOTSUPP"));
        assert_eq!(name(0), None);
        assert_eq!(name(-2), None);
        assert_eq!(name(4096), None);
    }

    #[test]
    fn every_slot_has_one_label_and_slots_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for e in 0..=(HIGHEST as i32) {
            let s = slot(e);
            assert!(s < SLOTS);
            if s != OTHER {
                assert_eq!(s, e as usize);
                assert!(seen.insert(label(s)), "label {} twice", label(s));
            }
        }
        assert_eq!(label(slot(0)), "0");
        assert_eq!(label(slot(libc::ENOTEMPTY)), "ENOTEMPTY");
        assert_eq!(label(slot(-1)), "other");
        assert_eq!(label(slot(100_000)), "other");
        // numbers Linux left unused share the "other" slot
        assert_eq!(slot(41), OTHER);
        assert!(!seen.contains("other"));
    }
}
