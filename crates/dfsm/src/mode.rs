//! dfsm modes and the rules for changing them (dfsm.md §5).

/// Local mode of one dfsm instance; never on the wire. Error modes are
/// ordered: LEAVE < VERSION_ERROR < ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Initialized, no membership that contains us yet.
    Start = 0,
    /// State exchange in progress; NORMAL messages are queued.
    StartSync = 1,
    /// Current; NORMAL messages are applied at once.
    Synced = 2,
    /// Outdated; waiting for the leader's UPDATEs.
    Update = 3,
    /// Leave the group, rejoin ≥ 5 s later with a full resync.
    Leave = 253,
    /// A peer speaks a newer protocol: stop until restart of the process.
    VersionError = 254,
    /// Database failure: stop until restart of the process.
    Error = 255,
}

impl Mode {
    pub fn is_error(self) -> bool {
        self as u8 >= 128
    }

    /// Neither ERROR nor VERSION_ERROR (`dfsm_restartable`).
    pub fn is_restartable(self) -> bool {
        !matches!(self, Mode::Error | Mode::VersionError)
    }

    /// Whether `self` may change to `to` (dfsm.md §5 rules 1–2): normal
    /// modes always; error modes only escalate.
    pub fn may_change_to(self, to: Mode) -> bool {
        !to.is_error() || !self.is_error() || to > self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_modes_only_escalate() {
        assert!(Mode::Synced.may_change_to(Mode::Leave));
        assert!(Mode::Leave.may_change_to(Mode::VersionError));
        assert!(Mode::Leave.may_change_to(Mode::Error));
        assert!(!Mode::Error.may_change_to(Mode::Leave));
        assert!(!Mode::VersionError.may_change_to(Mode::Leave));
        assert!(!Mode::Leave.may_change_to(Mode::Leave));
        // Normal modes are always allowed, even out of an error mode.
        assert!(Mode::Error.may_change_to(Mode::Start));
        assert!(Mode::Leave.is_restartable());
        assert!(!Mode::VersionError.is_restartable());
    }
}
