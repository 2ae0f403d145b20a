//! The error type of the corosync layer and the retry rule shared by all
//! services (corosync-bindings.md §1, dfsm.md §10).

use std::time::Duration;

pub use rust_corosync::CsError;

/// Sleep between two attempts of a call that returned `CS_ERR_TRY_AGAIN`
/// (pmxcfs: 100 ms everywhere).
pub const TRY_AGAIN_SLEEP: Duration = Duration::from_millis(100);

/// Attempts of `cpg_mcast_joined` before `CS_ERR_TRY_AGAIN` is handed back to
/// the caller (dfsm.md §10: at most 100 attempts, about 10 s).
pub const MCAST_ATTEMPTS: u32 = 100;

/// Errors of this crate. Every variant that stems from a library call keeps
/// the `cs_error_t` so upper layers can act on it like pmxcfs does.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `CS_ERR_LIBRARY` or `CS_ERR_BAD_HANDLE`: corosync is gone (or was
    /// never there). The service has dropped its handle; call `initialize`
    /// again later to reconnect.
    #[error("{op}: corosync not reachable ({code})")]
    Disconnected { op: &'static str, code: CsError },
    /// Any other failure of a library call; the handle is kept.
    #[error("{op} failed: {code}")]
    Call { op: &'static str, code: CsError },
    /// `CS_ERR_TRY_AGAIN` returned by every one of `attempts` attempts.
    #[error("{op}: corosync still busy after {attempts} attempts")]
    Busy { op: &'static str, attempts: u32 },
    /// The service holds no handle (not initialised, or lost after a
    /// `Disconnected` error).
    #[error("{0}: not connected to corosync")]
    NotConnected(&'static str),
    /// `quorum_initialize` reported `QUORUM_FREE`: no quorum provider is
    /// configured (quorum.md §2 step 2).
    #[error("corosync has no quorum provider configured (quorum type is not QUORUM_SET)")]
    NoQuorumProvider,
    /// A CPG group name longer than corosync allows (127 bytes).
    #[error("CPG group name is {0} bytes long, at most 127 are allowed")]
    GroupNameTooLong(usize),
    /// A required cmap key is missing or has an unexpected type.
    #[error("cmap key {key}: {reason}")]
    Config { key: String, reason: String },
}

impl Error {
    /// The numeric `cs_error_t` behind this error, if it came from corosync.
    pub fn cs_code(&self) -> Option<u32> {
        match self {
            Error::Disconnected { code, .. } | Error::Call { code, .. } => Some(*code as u32),
            Error::Busy { .. } => Some(CsError::CsErrTryAgain as u32),
            _ => None,
        }
    }

    /// True if the connection to corosync is gone and must be re-initialised.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Disconnected { .. } | Error::NotConnected(_))
    }

    /// Classify a library result the way pmxcfs does.
    pub(crate) fn from_cs(op: &'static str, code: CsError) -> Error {
        match code {
            CsError::CsErrLibrary | CsError::CsErrBadHandle => Error::Disconnected { op, code },
            _ => Error::Call { op, code },
        }
    }
}

/// Run `call` until it returns something other than `CS_ERR_TRY_AGAIN`,
/// sleeping [`TRY_AGAIN_SLEEP`] in between; `limit == None` retries forever
/// (join, leave, dispatch), `Some(n)` gives up after `n` attempts (mcast).
pub(crate) fn retry_try_again<T>(
    op: &'static str,
    limit: Option<u32>,
    mut call: impl FnMut() -> Result<T, CsError>,
) -> Result<T, Error> {
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        match call() {
            Ok(v) => {
                if attempt > 1 {
                    tracing::info!("{op} succeeded after {attempt} attempts");
                }
                return Ok(v);
            }
            Err(CsError::CsErrTryAgain) => {
                if limit.is_some_and(|max| attempt >= max) {
                    return Err(Error::Busy {
                        op,
                        attempts: attempt,
                    });
                }
                if attempt % 10 == 0 {
                    tracing::info!("{op}: retry {attempt}");
                }
                std::thread::sleep(TRY_AGAIN_SLEEP);
            }
            Err(code) => return Err(Error::from_cs(op, code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_again_is_retried_until_success() {
        let mut n = 0;
        let r = retry_try_again("op", Some(5), || {
            n += 1;
            if n < 3 {
                Err(CsError::CsErrTryAgain)
            } else {
                Ok(n)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn try_again_limit_gives_busy_with_attempt_count() {
        let mut n = 0;
        let r: Result<(), Error> = retry_try_again("mcast", Some(3), || {
            n += 1;
            Err(CsError::CsErrTryAgain)
        });
        assert_eq!(n, 3);
        match r {
            Err(Error::Busy { op, attempts }) => {
                assert_eq!(op, "mcast");
                assert_eq!(attempts, 3);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn library_and_bad_handle_mean_disconnected_others_do_not() {
        for code in [CsError::CsErrLibrary, CsError::CsErrBadHandle] {
            let e = retry_try_again::<()>("x", None, || Err(code)).unwrap_err();
            assert!(e.is_disconnect(), "{code:?}");
            assert_eq!(e.cs_code(), Some(code as u32));
        }
        let e = retry_try_again::<()>("x", None, || Err(CsError::CsErrAccess)).unwrap_err();
        assert!(!e.is_disconnect());
        assert_eq!(e.cs_code(), Some(11));
    }
}
