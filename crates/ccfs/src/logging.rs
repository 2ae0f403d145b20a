//! Logging: to stderr, or to syslog once the daemon has detached from its
//! terminal (C pmxcfs logs to syslog), with a debug switch that can be
//! flipped at run time (`-d`, and writes to `/.debug`, plugins.md §2.6).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
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

/// Set once stderr is gone: log lines go to syslog from then on.
static TO_SYSLOG: AtomicBool = AtomicBool::new(false);

/// Send log lines to syslog (facility daemon, ident `ccfs`) instead of
/// stderr. Call right before stderr is pointed at /dev/null.
pub fn switch_to_syslog() {
    // SAFETY: the ident is a static C string, valid for the process life.
    unsafe { libc::openlog(c"ccfs".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    TO_SYSLOG.store(true, Ordering::Release);
}

fn priority(level: &Level) -> libc::c_int {
    match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    }
}

struct Output;

/// One formatted event: buffered, written as a whole line when dropped.
struct Line {
    buf: Vec<u8>,
    priority: libc::c_int,
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if TO_SYSLOG.load(Ordering::Acquire) {
            while self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            }
            self.buf.retain(|&c| c != 0);
            self.buf.push(0);
            // SAFETY: "%s" with a NUL-terminated buffer.
            unsafe { libc::syslog(self.priority, c"%s".as_ptr(), self.buf.as_ptr()) };
        } else {
            let _ = io::stderr().write_all(&self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::new(),
            priority: libc::LOG_INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            buf: Vec::new(),
            priority: priority(meta.level()),
        }
    }
}

/// Install the global subscriber. Call once, early.
pub fn init(debug: bool) -> DebugSwitch {
    let (filter, handle) = reload::Layer::new(level(debug));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(Output)
        .with_target(false)
        .with_ansi(false);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), libc::LOG_ERR);
        assert_eq!(priority(&Level::WARN), libc::LOG_WARNING);
        assert_eq!(priority(&Level::INFO), libc::LOG_INFO);
        assert_eq!(priority(&Level::DEBUG), libc::LOG_DEBUG);
    }

    #[test]
    fn a_detached_switch_remembers_the_flag() {
        let d = DebugSwitch::detached(false);
        d.set(true);
        assert!(d.is_on());
        d.set(false);
        assert!(!d.is_on());
    }
}
