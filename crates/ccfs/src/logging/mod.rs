//! Logging: stderr in the foreground; journald or syslog once the daemon
//! has detached (C pmxcfs logs to syslog), with a log file behind them
//! (see `output`); and a debug switch that can be flipped at run time
//! (`-d`, and writes to `/.debug`, plugins.md §2.6).

mod journal;
mod output;
mod record;
mod syslog;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

pub use journal::parse as parse_journal_entry;
pub use output::{JOURNAL_SOCKET_ENV, SYSLOG_SOCKET_ENV};

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

/// The process's destinations; `None` until [`init`].
static OUTPUT: Mutex<Option<output::Output>> = Mutex::new(None);

fn output() -> MutexGuard<'static, Option<output::Output>> {
    // A panic while logging must not silence every later line.
    OUTPUT.lock().unwrap_or_else(|e| e.into_inner())
}

struct Sink;

impl<S: Subscriber> Layer<S> for Sink {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let r = record::Record::from_event(event);
        if let Some(o) = output().as_mut() {
            o.write(&r);
        }
    }
}

/// Install the global subscriber. Call once, early; `log_file` is where a
/// detached daemon writes when neither journald nor syslog answers.
pub fn init(debug: bool, log_file: &Path) -> DebugSwitch {
    {
        let mut o = output();
        if o.is_none() {
            *o = Some(output::Output::new(output::Setup::from_env(log_file)));
        }
    }
    let (filter, handle) = reload::Layer::new(level(debug));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(Sink)
        .try_init();
    DebugSwitch {
        on: Arc::new(AtomicBool::new(debug)),
        apply: Arc::new(move |on| {
            let _ = handle.modify(|f| *f = level(on));
        }),
    }
}

/// Stop logging to stderr: the daemon is about to point it at /dev/null.
/// Picks journald (started by systemd) or syslog, falling back to the
/// log file, and says so on stderr when neither socket answers.
pub fn leave_stderr() {
    let said = output().as_mut().and_then(|o| o.detach());
    if let Some(line) = said {
        let _ = writeln!(std::io::stderr(), "{line}");
        tracing::warn!("{}", line.trim_start_matches("ccfs: "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_switch_remembers_the_flag() {
        let d = DebugSwitch::detached(false);
        d.set(true);
        assert!(d.is_on());
        d.set(false);
        assert!(!d.is_on());
    }
}
