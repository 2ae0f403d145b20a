//! How the CLI prints what the API returns: one line per record, times in
//! local time, and a JSON object per line where `--json` asks for it.

use crate::backend::{DirEntry, LogEntry, PlannedChange, SnapshotEntry, SnapshotInfo};

/// `YYYY-MM-DD HH:MM:SS` of a civil date-time.
fn civil(days: i64, secs_of_day: i64) -> String {
    // Howard Hinnant's days-to-civil, valid for every date we can meet.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// A time in UTC.
pub fn utc_time(t: i64) -> String {
    civil(t.div_euclid(86_400), t.rem_euclid(86_400))
}

extern "C" {
    /// POSIX; the libc crate does not declare it.
    fn tzset();
}

/// The local time zone's offset from UTC at `t`, in seconds.
pub fn utc_offset(t: i64) -> i64 {
    let time: libc::time_t = t as libc::time_t;
    // SAFETY: tm is plain old data that localtime_r fills.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; tzset reads TZ.
    let ok = unsafe {
        tzset();
        !libc::localtime_r(&time, &mut tm).is_null()
    };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

/// A change time in the local time zone.
pub fn local_time(t: u32) -> String {
    let t = i64::from(t);
    utc_time(t + utc_offset(t))
}

/// `version  time  node  op  path` (`from -> to` for renames).
pub fn log_line(e: &LogEntry) -> String {
    let path = match &e.to {
        Some(to) => format!("{} -> {to}", e.path),
        None => e.path.clone(),
    };
    format!(
        "{:>8}  {}  {:<10} {:<7} {path}",
        e.version,
        local_time(e.time),
        e.node,
        e.op
    )
}

/// One JSON object on one line.
pub fn json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `NAME  VERSION  TIME  NODE  ENTRIES  BYTES`, header first.
pub fn snapshot_table(list: &[SnapshotInfo]) -> Vec<String> {
    let width = list.iter().map(|s| s.name.len()).max().unwrap_or(0).max(4);
    let mut lines = vec![format!(
        "{:<width$}  {:>8}  {:<19}  {:<10} {:>7}  {:>9}",
        "NAME", "VERSION", "TIME", "NODE", "ENTRIES", "BYTES"
    )];
    lines.extend(list.iter().map(|s| {
        format!(
            "{:<width$}  {:>8}  {}  {:<10} {:>7}  {:>9}",
            s.name,
            s.version,
            local_time(s.time),
            s.node,
            s.entries,
            s.bytes
        )
    }));
    lines
}

/// `kind  version  size  path`.
pub fn snapshot_entry_line(e: &SnapshotEntry) -> String {
    format!("{:<4} {:>8} {:>9}  {}", e.kind, e.version, e.size, e.path)
}

/// `op path` or `op path -> to`.
pub fn change_line(c: &PlannedChange) -> String {
    match &c.to {
        Some(to) => format!("{} {} -> {to}", c.op, c.path),
        None => format!("{} {}", c.op, c.path),
    }
}

/// A name per line, directories with a trailing `/`.
pub fn dir_line(e: &DirEntry) -> String {
    if e.kind == "dir" {
        format!("{}/", e.name)
    } else {
        e.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc_time(4_102_444_799), "2099-12-31 23:59:59");
        assert_eq!(utc_time(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn local_time_is_utc_shifted_by_the_zone_offset() {
        let t = 1_700_000_000u32;
        let off = utc_offset(i64::from(t));
        assert!(off.abs() <= 14 * 3600, "{off}");
        assert_eq!(local_time(t), utc_time(i64::from(t) + off));
    }

    #[test]
    fn lines() {
        let mut e = LogEntry {
            version: 42,
            time: 0,
            node: "n1".into(),
            writer: 1,
            op: "rename".into(),
            path: "a".into(),
            to: Some("b".into()),
            size: None,
            origin: "fuse".into(),
        };
        let line = log_line(&e);
        assert!(line.starts_with("      42  "), "{line}");
        assert!(line.ends_with("  n1         rename  a -> b"), "{line}");
        e.to = None;
        assert!(log_line(&e).ends_with(" a"));
        let c = PlannedChange {
            op: "write".into(),
            path: "x".into(),
            to: None,
        };
        assert_eq!(change_line(&c), "write x");
    }
}
