//! One log event turned into plain data (level, text, source location),
//! the same for every destination; and the two time stamps the text
//! destinations print.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level};

/// A formatted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub level: Level,
    /// The message followed by any other fields as ` key=value`.
    pub text: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl Record {
    pub fn from_event(event: &Event<'_>) -> Record {
        let meta = event.metadata();
        let mut v = Collect::default();
        event.record(&mut v);
        let mut text = v.message;
        if !v.fields.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&v.fields);
        }
        Record {
            level: *meta.level(),
            text,
            // Events forwarded from the `log` crate (fuser) carry their
            // location as fields instead of metadata.
            file: v.log_file.or_else(|| meta.file().map(str::to_string)),
            line: v.log_line.or(meta.line()),
        }
    }

    /// syslog(3) priority (severity only) of the level.
    pub fn priority(&self) -> u8 {
        priority(&self.level)
    }
}

pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

#[derive(Default)]
struct Collect {
    message: String,
    fields: String,
    log_file: Option<String>,
    log_line: Option<u32>,
}

impl Collect {
    fn field(&mut self, name: &str, value: &dyn std::fmt::Debug, plain: Option<&str>) {
        match name {
            "message" => match plain {
                Some(s) => self.message.push_str(s),
                None => {
                    let _ = write!(self.message, "{value:?}");
                }
            },
            "log.file" => self.log_file = plain.map(str::to_string),
            "log.target" | "log.module_path" | "log.line" => {}
            _ => {
                if !self.fields.is_empty() {
                    self.fields.push(' ');
                }
                match plain {
                    Some(s) => {
                        let _ = write!(self.fields, "{name}={s}");
                    }
                    None => {
                        let _ = write!(self.fields, "{name}={value:?}");
                    }
                }
            }
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field.name(), &value, Some(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" {
            self.log_line = u32::try_from(value).ok();
        }
        self.field(field.name(), &value, None);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field.name(), value, None);
    }
}

fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(_) => (0, 0),
    }
}

/// Civil date (y, m, d) of a day count since 1970-01-01 (proleptic
/// Gregorian, by the era arithmetic of the 400-year cycle).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2024-05-06T07:08:09.123Z` (UTC): stderr and the log file.
pub fn rfc3339(secs: i64, millis: u32) -> String {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

pub fn rfc3339_now() -> String {
    let (s, ms) = now();
    rfc3339(s, ms)
}

/// `May  6 07:08:09` in local time, the stamp of a BSD syslog line
/// (what syslog(3) sends).
pub fn syslog_stamp_now() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t: libc::time_t = now().0 as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        let (_, mo, d) = civil((t as i64).div_euclid(86_400));
        let s = (t as i64).rem_euclid(86_400);
        return format!(
            "{} {d:2} {:02}:{:02}:{:02}",
            MONTHS[(mo - 1) as usize],
            s / 3600,
            s % 3600 / 60,
            s % 60
        );
    }
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_severities() {
        assert_eq!(priority(&Level::ERROR), libc::LOG_ERR as u8);
        assert_eq!(priority(&Level::WARN), libc::LOG_WARNING as u8);
        assert_eq!(priority(&Level::INFO), libc::LOG_INFO as u8);
        assert_eq!(priority(&Level::DEBUG), libc::LOG_DEBUG as u8);
        assert_eq!(priority(&Level::TRACE), libc::LOG_DEBUG as u8);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century year) 12:34:56
        assert_eq!(rfc3339(951_827_696, 7), "2000-02-29T12:34:56.007Z");
        assert_eq!(rfc3339(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1, 0), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn syslog_stamp_has_the_bsd_shape() {
        let s = syslog_stamp_now();
        // "Mmm dd hh:mm:ss"
        assert_eq!(s.len(), 15, "{s:?}");
        assert!(s[..3].chars().all(|c| c.is_ascii_alphabetic()), "{s:?}");
        assert_eq!(&s[3..4], " ");
        assert_eq!(&s[9..10], ":");
        assert_eq!(&s[12..13], ":");
    }

    /// Records what a subscriber hands to a layer, through the real
    /// tracing macros.
    fn capture(f: impl FnOnce()) -> Vec<Record> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, SubscriberExt};
        struct Grab(Arc<Mutex<Vec<Record>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Grab {
            fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
                self.0.lock().unwrap().push(Record::from_event(e));
            }
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Grab(got.clone()));
        tracing::subscriber::with_default(sub, f);
        let v = got.lock().unwrap().clone();
        v
    }

    #[test]
    fn message_fields_and_location() {
        let got = capture(|| {
            tracing::warn!("plain {}", 42);
            tracing::error!(path = "a/b", errno = 5, "write failed");
            tracing::info!(id = ?Some(3));
        });
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].text, "plain 42");
        assert_eq!(got[0].level, Level::WARN);
        assert_eq!(got[0].file.as_deref(), Some(file!()));
        assert!(got[0].line.is_some_and(|l| l > 0));
        assert_eq!(got[1].text, "write failed path=a/b errno=5");
        assert_eq!(got[1].priority(), 3);
        assert_eq!(got[2].text, "id=Some(3)");
    }
}
