//! A latency histogram for the hot path: one atomic per bucket and one for
//! the sum, no lock, no allocation. An observation adds to exactly one
//! bucket (the first whose bound it does not exceed); the cumulative counts
//! Prometheus wants are summed when scraped, so `_count` and the `+Inf`
//! bucket are the same number by construction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from a lookup in memory
/// (microseconds) to a cluster write waiting for corosync (seconds).
pub const BOUNDS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_1, 0.000_25, 0.001, 0.002_5, 0.01, 0.025, 0.1, 0.25, 1.0, 2.5,
];

/// The same bounds in nanoseconds (what an observation is compared with).
const BOUNDS_NS: [u64; 12] = [
    10_000,
    25_000,
    100_000,
    250_000,
    1_000_000,
    2_500_000,
    10_000_000,
    25_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// One slot per bound plus one for everything above the last.
const SLOTS: usize = BOUNDS.len() + 1;

pub struct Histogram {
    slots: [AtomicU64; SLOTS],
    sum_ns: AtomicU64,
}

/// What a scrape reads: cumulative counts per bound (the last is `+Inf`).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub cumulative: [u64; SLOTS],
    pub sum_seconds: f64,
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.cumulative[SLOTS - 1]
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            slots: [const { AtomicU64::new(0) }; SLOTS],
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NS.iter().position(|&b| ns <= b).unwrap_or(SLOTS - 1);
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far (cheaper than a snapshot).
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// The counts summed up to each bound. Observations that land while
    /// this runs may be in a later bucket and not yet in an earlier one;
    /// every bucket still only grows from one scrape to the next.
    pub fn snapshot(&self) -> Snapshot {
        let mut cumulative = [0u64; SLOTS];
        let mut total = 0u64;
        for (c, slot) in cumulative.iter_mut().zip(&self.slots) {
            total += slot.load(Ordering::Relaxed);
            *c = total;
        }
        Snapshot {
            cumulative,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_agree_in_both_units() {
        for (s, ns) in BOUNDS.iter().zip(BOUNDS_NS) {
            assert_eq!((s * 1e9).round() as u64, ns);
        }
        assert!(BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn observations_land_in_the_first_bucket_they_fit_and_add_up() {
        let h = Histogram::new();
        let us = Duration::from_micros;
        // on a bound counts for that bound ("less than or equal")
        for d in [
            us(3),
            us(25),
            us(26),
            us(1000),
            us(40_000),
            Duration::from_secs(9),
        ] {
            h.observe(d);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6]);
        assert_eq!(s.count(), 6);
        assert_eq!(h.count(), 6);
        let want = (3 + 25 + 26 + 1000 + 40_000) as f64 / 1e6 + 9.0;
        assert!((s.sum_seconds - want).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn an_empty_histogram_is_all_zero() {
        let s = Histogram::default().snapshot();
        assert_eq!(s.cumulative, [0; SLOTS]);
        assert_eq!(s.sum_seconds, 0.0);
    }

    #[test]
    fn concurrent_observers_lose_nothing() {
        let h = std::sync::Arc::new(Histogram::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.observe(Duration::from_micros((i * 7 + t) % 3000));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 40_000);
        assert!(s.cumulative.windows(2).all(|w| w[0] <= w[1]));
        // every observation was under 3 ms: all of them within 10 ms
        assert_eq!(s.cumulative[6], 40_000);
        assert!(s.cumulative[5] < 40_000);
    }
}
