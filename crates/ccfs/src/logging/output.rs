//! Where log lines go. In the foreground: stderr (or journald, when
//! stderr is journald's stream anyway). Once detached: journald when
//! systemd started us, else syslog, each falling back to the other and
//! then to a log file, tried in that order for every line, so a
//! destination that comes (back) later is used again. No line is dropped
//! while any of them works; when none can be reached at detach time the
//! daemon says so on stderr before it closes it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::record::{rfc3339_now, Record};
use super::{journal, syslog};

/// Test hooks: sockets a test bound instead of the system's.
pub const JOURNAL_SOCKET_ENV: &str = "CCFS_JOURNAL_SOCKET";
pub const SYSLOG_SOCKET_ENV: &str = "CCFS_SYSLOG_SOCKET";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Stderr,
    Journal,
    Syslog,
    File,
}

/// The process environment that decides the destinations.
#[derive(Debug, Clone)]
pub struct Setup {
    pub journal: PathBuf,
    pub syslog: PathBuf,
    pub file: PathBuf,
    /// Started by systemd (a unit), so journald is the natural place.
    pub systemd: bool,
    /// stderr is journald's stream socket (`JOURNAL_STREAM` names it).
    pub stderr_is_journal: bool,
}

impl Setup {
    pub fn from_env(file: &Path) -> Setup {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let stream = std::env::var("JOURNAL_STREAM").ok();
        Setup {
            journal: var(JOURNAL_SOCKET_ENV).map_or(journal::SOCKET.into(), PathBuf::from),
            syslog: var(SYSLOG_SOCKET_ENV).map_or(syslog::SOCKET.into(), PathBuf::from),
            file: file.to_path_buf(),
            systemd: ["INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET"]
                .iter()
                .any(|k| var(k).is_some()),
            stderr_is_journal: stream.as_deref().is_some_and(stderr_matches),
        }
    }
}

/// `JOURNAL_STREAM` is "device:inode" of the stream systemd connected to
/// stdout/stderr; it is inherited, so only a match with our fd 2 counts.
fn stderr_matches(stream: &str) -> bool {
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = File::from(match io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(_) => return false,
    })
    .metadata() else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// How long one line may wait for a congested journald or syslog
/// daemon: the thread logging may be serving a FUSE request, so it must
/// not hang with a hung logger. Past that the line goes to the next
/// destination, and the endpoint gets no wait at all for a while.
const SEND_WAIT: Duration = Duration::from_millis(50);
const CONGESTED_FOR: Duration = Duration::from_secs(1);

/// A datagram socket path, connected on first use and again after an
/// error (journald or rsyslog restarted). Non-blocking: a datagram
/// socket whose reader is behind blocks the sender otherwise.
struct Endpoint {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    congested_until: Option<Instant>,
}

impl Endpoint {
    fn new(path: PathBuf) -> Endpoint {
        Endpoint {
            path,
            sock: None,
            congested_until: None,
        }
    }

    fn connect(&mut self) -> io::Result<&UnixDatagram> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound()?;
            s.connect(&self.path)?;
            s.set_nonblocking(true)?;
            self.sock = Some(s);
        }
        self.sock
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    fn send(&mut self, data: &[u8]) -> bool {
        let now = Instant::now();
        let wait = match self.congested_until {
            Some(t) if now < t => Duration::ZERO,
            _ => SEND_WAIT,
        };
        for _ in 0..2 {
            let sent = self.connect().and_then(|s| send_within(s, data, wait));
            match sent {
                Ok(()) => {
                    self.congested_until = None;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.congested_until = Some(now + CONGESTED_FOR);
                    return false;
                }
                Err(_) => self.sock = None,
            }
        }
        false
    }
}

/// Send, waiting at most `wait` for room in the reader's queue.
fn send_within(s: &UnixDatagram, data: &[u8], wait: Duration) -> io::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match s.send(data) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(e);
                }
                let mut pfd = libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = left.as_millis().clamp(1, 1000) as libc::c_int;
                // SAFETY: one pollfd we own, for a descriptor we own.
                unsafe { libc::poll(&mut pfd, 1, ms) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub struct Output {
    order: Vec<Dest>,
    /// A duplicate of the original fd 2, so that pointing fd 2 at
    /// /dev/null does not cut us off; dropped once not needed (an open
    /// terminal descriptor keeps an ssh session from closing).
    stderr: Option<File>,
    journal: Endpoint,
    syslog: Endpoint,
    file_path: PathBuf,
    file: Option<File>,
    systemd: bool,
}

impl Output {
    pub fn new(setup: Setup) -> Output {
        let stderr = io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(File::from);
        let order = if setup.stderr_is_journal {
            vec![Dest::Journal, Dest::Stderr]
        } else {
            vec![Dest::Stderr]
        };
        Output {
            order,
            stderr,
            journal: Endpoint::new(setup.journal),
            syslog: Endpoint::new(setup.syslog),
            file_path: setup.file,
            file: None,
            systemd: setup.systemd,
        }
    }

    #[cfg(test)]
    fn order(&self) -> &[Dest] {
        &self.order
    }

    /// Send `r` to the first destination that takes it.
    pub fn write(&mut self, r: &Record) {
        for i in 0..self.order.len() {
            if self.write_to(self.order[i], r) {
                return;
            }
        }
    }

    fn write_to(&mut self, d: Dest, r: &Record) -> bool {
        match d {
            Dest::Stderr => match &mut self.stderr {
                Some(f) => f.write_all(text_line(r).as_bytes()).is_ok(),
                None => false,
            },
            Dest::Journal => self.journal.send(&journal::entry(r)),
            Dest::Syslog => self.syslog.send(&syslog::line(r, std::process::id())),
            Dest::File => {
                if self.file.is_none() {
                    self.file = open_log_file(&self.file_path).ok();
                }
                match &mut self.file {
                    Some(f) => f.write_all(text_line(r).as_bytes()).is_ok(),
                    None => false,
                }
            }
        }
    }

    /// Leave stderr (the daemon is about to detach): pick the detached
    /// destinations. Returns the line to print on stderr first when
    /// neither journald nor syslog can be reached.
    pub fn detach(&mut self) -> Option<String> {
        let sockets = if self.systemd {
            [Dest::Journal, Dest::Syslog]
        } else {
            [Dest::Syslog, Dest::Journal]
        };
        self.order = sockets.to_vec();
        self.order.push(Dest::File);
        let journal = self.journal.connect().map(|_| ()).err();
        let syslog = self.syslog.connect().map(|_| ()).err();
        let (Some(je), Some(se)) = (journal, syslog) else {
            self.stderr = None;
            return None;
        };
        let unreachable = format!(
            "cannot reach journald ({}: {je}) or syslog ({}: {se})",
            self.journal.path.display(),
            self.syslog.path.display()
        );
        match open_log_file(&self.file_path) {
            Ok(f) => {
                self.file = Some(f);
                self.stderr = None;
                Some(format!(
                    "ccfs: {unreachable}; logging to {}",
                    self.file_path.display()
                ))
            }
            Err(e) => {
                // Nothing else left: a descriptor that may outlive the
                // terminal is better than silence.
                self.order.push(Dest::Stderr);
                Some(format!(
                    "ccfs: {unreachable}, and cannot open {} ({e}); logging to this stderr",
                    self.file_path.display()
                ))
            }
        }
    }
}

fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// The text form of stderr and the log file.
fn text_line(r: &Record) -> String {
    format!(
        "{} {:>5} ccfs[{}]: {}\n",
        rfc3339_now(),
        r.level,
        std::process::id(),
        r.text
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn rec(text: &str) -> Record {
        Record {
            level: Level::INFO,
            text: text.into(),
            file: Some("x.rs".into()),
            line: Some(1),
        }
    }

    fn bind(path: &Path) -> UnixDatagram {
        let s = UnixDatagram::bind(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    fn recv(s: &UnixDatagram) -> Vec<u8> {
        let mut buf = vec![0u8; 65536];
        let n = s.recv(&mut buf).expect("a datagram");
        buf.truncate(n);
        buf
    }

    fn nothing_waiting(s: &UnixDatagram) -> bool {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let r = s.recv(&mut buf);
        s.set_nonblocking(false).unwrap();
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn setup(dir: &Path, systemd: bool) -> Setup {
        Setup {
            journal: dir.join("journal.sock"),
            syslog: dir.join("syslog.sock"),
            file: dir.join("ccfs.log"),
            systemd,
            stderr_is_journal: false,
        }
    }

    #[test]
    fn detached_under_systemd_journald_first_then_syslog_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let j = bind(&dir.path().join("journal.sock"));
        let s = bind(&dir.path().join("syslog.sock"));
        let mut o = Output::new(setup(dir.path(), true));
        assert_eq!(o.order(), [Dest::Stderr]);
        assert_eq!(o.detach(), None, "journald is reachable: nothing to say");
        assert_eq!(o.order(), [Dest::Journal, Dest::Syslog, Dest::File]);

        o.write(&rec("one"));
        let f = journal::parse(&recv(&j)).unwrap();
        assert_eq!(f[0], ("MESSAGE".into(), b"one".to_vec()));
        assert!(nothing_waiting(&s));

        // journald goes away: the next line reaches syslog
        drop(j);
        std::fs::remove_file(dir.path().join("journal.sock")).unwrap();
        o.write(&rec("two"));
        let line = String::from_utf8(recv(&s)).unwrap();
        assert!(line.starts_with("<30>"), "{line}");
        assert!(
            line.ends_with(&format!("ccfs[{}]: two", std::process::id())),
            "{line}"
        );

        // and syslog too: the file
        drop(s);
        o.write(&rec("three"));
        let text = std::fs::read_to_string(dir.path().join("ccfs.log")).unwrap();
        assert!(text.contains("]: three\n"), "{text}");

        // journald is back (a restart binds the path again): used again
        let j = bind(&dir.path().join("journal.sock"));
        o.write(&rec("four"));
        let f = journal::parse(&recv(&j)).unwrap();
        assert_eq!(f[0].1, b"four");
    }

    #[test]
    fn a_reader_that_is_behind_costs_a_bounded_wait_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = bind(&dir.path().join("journal.sock"));
        let s = bind(&dir.path().join("syslog.sock"));
        let mut o = Output::new(setup(dir.path(), true));
        assert_eq!(o.detach(), None);
        // nobody reads either socket: their queues fill up
        let n = 200;
        for i in 0..n {
            o.write(&rec(&format!("line {i}")));
        }
        let drain = |s: &UnixDatagram| {
            s.set_nonblocking(true).unwrap();
            let mut got = 0;
            while s.recv(&mut [0u8; 4096]).is_ok() {
                got += 1;
            }
            got
        };
        let (journal, syslog) = (drain(&j), drain(&s));
        let text = std::fs::read_to_string(dir.path().join("ccfs.log")).unwrap_or_default();
        let file = text.lines().count();
        assert!(journal > 0 && syslog > 0, "each took lines until full");
        assert!(file > 0, "the rest went to the file");
        assert_eq!(journal + syslog + file, n, "every line reached exactly one");
        assert!(
            text.contains("]: line 199\n"),
            "the last line is in the file"
        );
        // marked congested: later lines skip the wait instead of paying
        // it again
        assert!(o.journal.congested_until.is_some());
        assert!(o.syslog.congested_until.is_some());
        // room again: the journal is used again at once
        o.write(&rec("after"));
        assert_eq!(drain(&j), 1);
    }

    #[test]
    fn detached_without_systemd_syslog_first() {
        let dir = tempfile::tempdir().unwrap();
        let j = bind(&dir.path().join("journal.sock"));
        let s = bind(&dir.path().join("syslog.sock"));
        let mut o = Output::new(setup(dir.path(), false));
        assert_eq!(o.detach(), None);
        assert_eq!(o.order(), [Dest::Syslog, Dest::Journal, Dest::File]);
        o.write(&rec("hello"));
        assert!(String::from_utf8(recv(&s)).unwrap().ends_with("]: hello"));
        assert!(nothing_waiting(&j));
        // only journald there: still logged
        drop(s);
        o.write(&rec("via journal"));
        assert_eq!(journal::parse(&recv(&j)).unwrap()[0].1, b"via journal");
    }

    #[test]
    fn nothing_reachable_means_the_file_and_a_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Output::new(setup(dir.path(), true));
        let said = o.detach().expect("a line for stderr");
        assert!(said.contains("cannot reach journald"), "{said}");
        assert!(
            said.contains("journal.sock") && said.contains("syslog.sock"),
            "{said}"
        );
        assert!(said.ends_with(&format!(
            "logging to {}",
            dir.path().join("ccfs.log").display()
        )));
        o.write(&rec("kept"));
        let text = std::fs::read_to_string(dir.path().join("ccfs.log")).unwrap();
        assert!(text.contains("]: kept\n"), "{text}");
        assert!(o.stderr.is_none(), "stderr released");
    }

    #[test]
    fn no_file_either_keeps_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = setup(dir.path(), false);
        s.file = dir.path().join("no/such/dir/ccfs.log");
        let mut o = Output::new(s);
        let said = o.detach().unwrap();
        assert!(
            said.contains("cannot open") && said.ends_with("logging to this stderr"),
            "{said}"
        );
        assert_eq!(o.order().last(), Some(&Dest::Stderr));
        assert!(o.stderr.is_some());
    }

    #[test]
    fn foreground_on_journalds_stream_prefers_the_native_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let j = bind(&dir.path().join("journal.sock"));
        let mut s = setup(dir.path(), true);
        s.stderr_is_journal = true;
        let mut o = Output::new(s);
        assert_eq!(o.order(), [Dest::Journal, Dest::Stderr]);
        o.write(&rec("fg"));
        let f = journal::parse(&recv(&j)).unwrap();
        assert_eq!(f[0].1, b"fg");
        assert!(f.contains(&("PRIORITY".into(), b"6".to_vec())));
    }

    #[test]
    fn journal_stream_must_name_our_stderr() {
        assert!(!stderr_matches("garbage"));
        assert!(!stderr_matches("1:2"));
        let meta = File::from(io::stderr().as_fd().try_clone_to_owned().unwrap())
            .metadata()
            .unwrap();
        assert!(stderr_matches(&format!("{}:{}", meta.dev(), meta.ino())));
    }
}
