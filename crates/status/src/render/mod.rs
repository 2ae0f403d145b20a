//! Byte-exact texts of the status files (plugins.md §2). Inputs are plain
//! values; order is the caller's (C prints hash-table order, which clients
//! never rely on).

mod members;
mod version;
mod vmlist;

pub use members::{members_cluster, members_local, MemberLine};
pub use version::version;
pub use vmlist::vmlist;

/// `.debug` (plugins.md §2.6).
pub fn debug(on: bool) -> &'static str {
    if on {
        "1\n"
    } else {
        "0\n"
    }
}

/// What a write to `.debug` asks for: the first two bytes must be `0\n` or
/// `1\n` (then 2 bytes are consumed); anything else is `EIO`.
pub fn parse_debug_write(buf: &[u8]) -> Option<bool> {
    match buf.get(..2) {
        Some(b"0\n") => Some(false),
        Some(b"1\n") => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_texts_and_writes() {
        assert_eq!(debug(false), "0\n");
        assert_eq!(debug(true), "1\n");
        assert_eq!(parse_debug_write(b"1\n"), Some(true));
        assert_eq!(parse_debug_write(b"0\nfoo"), Some(false));
        assert_eq!(parse_debug_write(b"1"), None);
        assert_eq!(parse_debug_write(b"2\n"), None);
        assert_eq!(parse_debug_write(b"1 "), None);
    }
}
