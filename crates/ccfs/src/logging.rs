//! Logging to stderr with a debug switch that can be flipped at run time
//! (`-d`, and writes to `/.debug`, plugins.md §2.6).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

/// The shared debug flag; `set` also changes the log level.
#[derive(Clone)]
pub struct DebugSwitch {
    on: Arc<AtomicBool>,
    apply: Arc<dyn Fn(bool) + Send + Sync>,
}

impl DebugSwitch {
    /// A switch that only remembers the flag (tests).
    pub fn detached(on: bool) -> DebugSwitch {
        DebugSwitch {
            on: Arc::new(AtomicBool::new(on)),
            apply: Arc::new(|_| {}),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        let was = self.on.swap(on, Ordering::Relaxed);
        if was != on {
            (self.apply)(on);
            if on {
                tracing::info!("enable debug mode");
            } else {
                tracing::info!("disable debug mode");
            }
        }
    }
}

fn level(debug: bool) -> LevelFilter {
    if debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    }
}

/// Install the global subscriber. Call once, early.
pub fn init(debug: bool) -> DebugSwitch {
    let (filter, handle) = reload::Layer::new(level(debug));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    DebugSwitch {
        on: Arc::new(AtomicBool::new(debug)),
        apply: Arc::new(move |on| {
            let _ = handle.modify(|f| *f = level(on));
        }),
    }
}
