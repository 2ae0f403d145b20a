//! Prometheus's text exposition format 0.0.4: families with `# HELP` and
//! `# TYPE`, one sample per line, label values escaped, histograms as
//! cumulative `_bucket` lines with `le` plus `_sum` and `_count`.

use std::fmt::Write;

use super::histogram::{Snapshot, BOUNDS};

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A sample value as written: integers exactly, floats in Go's spelling of
/// the special values.
#[derive(Clone, Copy, Debug)]
pub enum Number {
    Int(u64),
    Float(f64),
}

impl From<u64> for Number {
    fn from(v: u64) -> Number {
        Number::Int(v)
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Number {
        Number::Float(v)
    }
}

impl From<bool> for Number {
    fn from(v: bool) -> Number {
        Number::Int(u64::from(v))
    }
}

fn push_number(out: &mut String, n: Number) {
    let _ = match n {
        Number::Int(v) => write!(out, "{v}"),
        Number::Float(v) if v.is_nan() => write!(out, "NaN"),
        Number::Float(v) if v == f64::INFINITY => write!(out, "+Inf"),
        Number::Float(v) if v == f64::NEG_INFINITY => write!(out, "-Inf"),
        Number::Float(v) => write!(out, "{v}"),
    };
}

fn push_escaped(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// The text of one scrape, written family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
    family: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Start a family; the samples written next belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.family.clear();
        self.family.push_str(name);
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        push_escaped(&mut self.out, help, false);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    fn line(&mut self, suffix: &str, labels: &[(&str, &str)], le: Option<&str>, n: Number) {
        self.out.push_str(&self.family);
        self.out.push_str(suffix);
        if !labels.is_empty() || le.is_some() {
            self.out.push('{');
            let le = le.map(|v| ("le", v));
            for (i, (k, v)) in labels.iter().copied().chain(le).enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                push_escaped(&mut self.out, v, true);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_number(&mut self.out, n);
        self.out.push('\n');
    }

    /// A counter's or gauge's sample.
    pub fn value(&mut self, labels: &[(&str, &str)], n: impl Into<Number>) {
        self.line("", labels, None, n.into());
    }

    /// A histogram's buckets (cumulative, `+Inf` last), sum and count.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &Snapshot) {
        let mut bound = String::new();
        for (i, count) in h.cumulative.iter().enumerate() {
            bound.clear();
            match BOUNDS.get(i) {
                Some(b) => push_number(&mut bound, Number::Float(*b)),
                None => bound.push_str("+Inf"),
            }
            self.line("_bucket", labels, Some(&bound), Number::Int(*count));
        }
        self.line("_sum", labels, None, Number::Float(h.sum_seconds));
        self.line("_count", labels, None, Number::Int(h.count()));
    }

    /// A summary without quantiles: how many and their sum.
    pub fn summary(&mut self, labels: &[(&str, &str)], count: u64, sum: f64) {
        self.line("_sum", labels, None, Number::Float(sum));
        self.line("_count", labels, None, Number::Int(count));
    }

    pub fn into_text(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn counters_and_gauges() {
        let mut e = Exposition::new();
        e.family("ccfs_requests_total", Kind::Counter, "Requests answered.");
        e.value(
            &[("frontend", "fuse"), ("op", "mkdir"), ("errno", "0")],
            3u64,
        );
        e.value(
            &[("frontend", "fuse"), ("op", "mkdir"), ("errno", "EEXIST")],
            1u64,
        );
        e.family("ccfs_quorate", Kind::Gauge, "1 when quorate.");
        e.value(&[], true);
        e.family("ccfs_ratio", Kind::Gauge, "A float.");
        e.value(&[], 0.5);
        assert_eq!(
            e.into_text(),
            "# HELP ccfs_requests_total Requests answered.\n\
             # TYPE ccfs_requests_total counter\n\
             ccfs_requests_total{frontend=\"fuse\",op=\"mkdir\",errno=\"0\"} 3\n\
             ccfs_requests_total{frontend=\"fuse\",op=\"mkdir\",errno=\"EEXIST\"} 1\n\
             # HELP ccfs_quorate 1 when quorate.\n\
             # TYPE ccfs_quorate gauge\n\
             ccfs_quorate 1\n\
             # HELP ccfs_ratio A float.\n\
             # TYPE ccfs_ratio gauge\n\
             ccfs_ratio 0.5\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_with_inf_sum_and_count() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_secs(3));
        let mut e = Exposition::new();
        e.family("ccfs_x_seconds", Kind::Histogram, "X.");
        e.histogram(&[("op", "read")], &h.snapshot());
        let text = e.into_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# HELP ccfs_x_seconds X.");
        assert_eq!(lines[1], "# TYPE ccfs_x_seconds histogram");
        let bucket =
            |le: &str, n: u64| format!("ccfs_x_seconds_bucket{{op=\"read\",le=\"{le}\"}} {n}");
        assert_eq!(lines[2], bucket("0.00001", 1));
        assert_eq!(lines[3], bucket("0.000025", 1));
        assert_eq!(lines[4], bucket("0.0001", 1));
        assert_eq!(lines[6], bucket("0.001", 2));
        assert_eq!(lines[12], bucket("1", 2));
        assert_eq!(lines[13], bucket("2.5", 2));
        assert_eq!(lines[14], bucket("+Inf", 3));
        assert_eq!(lines[15], "ccfs_x_seconds_sum{op=\"read\"} 3.00051");
        assert_eq!(lines[16], "ccfs_x_seconds_count{op=\"read\"} 3");
        assert_eq!(lines.len(), 17);
    }

    #[test]
    fn a_histogram_without_labels_has_only_le() {
        let mut e = Exposition::new();
        e.family("ccfs_commit_duration_seconds", Kind::Histogram, "C.");
        e.histogram(&[], &Histogram::new().snapshot());
        let text = e.into_text();
        assert!(text.contains("\nccfs_commit_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.ends_with(
            "ccfs_commit_duration_seconds_sum 0\nccfs_commit_duration_seconds_count 0\n"
        ));
    }

    #[test]
    fn a_summary_is_sum_and_count() {
        let mut e = Exposition::new();
        e.family("ccfs_s_seconds", Kind::Summary, "S.");
        e.summary(&[], 2, 0.25);
        assert!(e.into_text().ends_with(
            "# TYPE ccfs_s_seconds summary\nccfs_s_seconds_sum 0.25\nccfs_s_seconds_count 2\n"
        ));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.family("ccfs_e", Kind::Gauge, "back\\slash\nnew \"line\"");
        e.value(&[("l", "a\"b\\c\nd")], 1u64);
        assert_eq!(
            e.into_text(),
            "# HELP ccfs_e back\\\\slash\\nnew \"line\"\n\
             # TYPE ccfs_e gauge\n\
             ccfs_e{l=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn special_floats_use_prometheus_spelling() {
        let mut e = Exposition::new();
        e.family("ccfs_f", Kind::Gauge, "F.");
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e-7, 1.0] {
            e.value(&[], v);
        }
        let text = e.into_text();
        let values: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(values, ["+Inf", "-Inf", "NaN", "0.0000001", "1"]);
    }
}
