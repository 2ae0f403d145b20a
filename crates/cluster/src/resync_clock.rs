//! How long the dcdb group's state exchanges take: from the dfsm's entry
//! into START_SYNC to its return to SYNCED (through UPDATE on a node that
//! was outdated). A sync cut short by a leave, an error or a restart is
//! not counted; one ended by a new membership goes on (the dfsm stays in
//! its sync modes and the clock keeps its start).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ccfs_dfsm::Mode;

/// The start of the sync in progress, kept with the dfsm (the service's
/// `Core`, under its lock).
#[derive(Debug, Default)]
pub(crate) struct ResyncClock {
    started: Option<Instant>,
}

impl ResyncClock {
    /// The dfsm changed to `mode` at `now`: the duration of the sync that
    /// this change completed, if it completed one.
    pub fn mode_changed(&mut self, mode: Mode, now: Instant) -> Option<Duration> {
        match mode {
            Mode::StartSync | Mode::Update => {
                self.started.get_or_insert(now);
                None
            }
            Mode::Synced => self
                .started
                .take()
                .map(|t| now.saturating_duration_since(t)),
            Mode::Start | Mode::Leave | Mode::VersionError | Mode::Error => {
                self.started = None;
                None
            }
        }
    }
}

/// Completed syncs and their total time, readable without the dfsm lock.
#[derive(Debug, Default)]
pub(crate) struct ResyncTotals {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl ResyncTotals {
    pub fn add(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (completed syncs, their summed duration).
    pub fn get(&self) -> (u64, Duration) {
        (
            self.count.load(Ordering::Relaxed),
            Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_is_timed_from_start_sync_to_synced() {
        let t0 = Instant::now();
        let mut c = ResyncClock::default();
        assert_eq!(c.mode_changed(Mode::Start, t0), None);
        assert_eq!(c.mode_changed(Mode::StartSync, t0), None);
        let t1 = t0 + Duration::from_millis(30);
        assert_eq!(c.mode_changed(Mode::Update, t1), None);
        let t2 = t0 + Duration::from_millis(70);
        assert_eq!(
            c.mode_changed(Mode::Synced, t2),
            Some(Duration::from_millis(70))
        );
        // Synced again without a sync in between completes nothing.
        assert_eq!(c.mode_changed(Mode::Synced, t2), None);
    }

    #[test]
    fn a_new_membership_during_a_sync_keeps_its_start() {
        let t0 = Instant::now();
        let mut c = ResyncClock::default();
        c.mode_changed(Mode::StartSync, t0);
        c.mode_changed(Mode::StartSync, t0 + Duration::from_millis(10));
        assert_eq!(
            c.mode_changed(Mode::Synced, t0 + Duration::from_millis(25)),
            Some(Duration::from_millis(25))
        );
    }

    #[test]
    fn a_sync_cut_short_is_not_counted() {
        let t0 = Instant::now();
        for cut in [Mode::Leave, Mode::Error, Mode::VersionError, Mode::Start] {
            let mut c = ResyncClock::default();
            c.mode_changed(Mode::StartSync, t0);
            c.mode_changed(cut, t0);
            assert_eq!(c.mode_changed(Mode::Synced, t0), None, "{cut:?}");
        }
    }

    #[test]
    fn totals_add_up() {
        let t = ResyncTotals::default();
        assert_eq!(t.get(), (0, Duration::ZERO));
        t.add(Duration::from_millis(5));
        t.add(Duration::from_millis(7));
        assert_eq!(t.get(), (2, Duration::from_millis(12)));
    }
}
