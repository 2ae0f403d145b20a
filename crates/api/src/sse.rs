//! Server-sent events (the `text/event-stream` format of the HTML living
//! standard, §9.2): what the watch route writes and what the client reads
//! back. Only the parts the watch uses: `id`, `event` and `data` fields, and
//! comment lines as keep-alives.

/// The content type of an event stream.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// The longest line the reader accepts: a change is a few hundred bytes,
/// so anything near this is a broken or hostile peer, not a change.
pub const MAX_LINE: usize = 1024 * 1024;

/// One event as written: `id: ID`, `event: KIND` (left out for the
/// default kind `message`), one `data:` line per line of `data`, and the
/// empty line that ends it.
pub fn event(id: Option<u64>, kind: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    if let Some(kind) = kind {
        out.push_str(&format!("event: {kind}\n"));
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A comment line (readers ignore it; it keeps idle connections alive).
pub fn comment(text: &str) -> String {
    format!(": {}\n\n", text.replace(['\r', '\n'], " "))
}

/// One event as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    /// `message` unless the event named another kind.
    pub kind: String,
    pub data: String,
}

/// What a stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    Comment(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event stream line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("event stream line is not UTF-8")]
    NotUtf8,
}

/// Reads an event stream in whatever pieces it arrives.
#[derive(Debug, Default)]
pub struct Reader {
    /// Bytes of the line not yet ended.
    line: Vec<u8>,
    /// A `\r` ended the last line: a `\n` right after it belongs to it.
    after_cr: bool,
    id: Option<String>,
    kind: Option<String>,
    data: Option<String>,
}

impl Reader {
    /// Feed the next bytes; returns the items they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Item>, SseError> {
        let mut items = Vec::new();
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
                    items.extend(self.line_done(&line));
                }
                _ if self.line.len() >= MAX_LINE => return Err(SseError::LineTooLong),
                _ => self.line.push(b),
            }
        }
        Ok(items)
    }

    fn line_done(&mut self, line: &str) -> Option<Item> {
        if line.is_empty() {
            // An event without data is not dispatched (the standard's rule).
            let data = self.data.take()?;
            return Some(Item::Event(Event {
                id: self.id.take(),
                kind: self.kind.take().unwrap_or_else(|| "message".into()),
                data,
            }));
        }
        if let Some(text) = line.strip_prefix(':') {
            return Some(Item::Comment(text.trim_start().to_string()));
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.kind = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            // `retry` and unknown fields: nothing the watch needs.
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: Option<&str>, kind: &str, data: &str) -> Item {
        Item::Event(Event {
            id: id.map(str::to_string),
            kind: kind.into(),
            data: data.into(),
        })
    }

    #[test]
    fn written_events_read_back_byte_by_byte() {
        let text = format!(
            "{}{}{}",
            comment("watching"),
            event(Some(7), None, r#"{"version":7}"#),
            event(None, Some("error"), "two\nlines")
        );
        assert_eq!(
            text,
            ": watching\n\nid: 7\ndata: {\"version\":7}\n\nevent: error\ndata: two\ndata: lines\n\n"
        );
        let mut r = Reader::default();
        let mut items = Vec::new();
        for b in text.as_bytes() {
            items.extend(r.push(&[*b]).unwrap());
        }
        assert_eq!(
            items,
            [
                Item::Comment("watching".into()),
                ev(Some("7"), "message", r#"{"version":7}"#),
                ev(None, "error", "two\nlines"),
            ]
        );
    }

    #[test]
    fn every_line_end_and_field_spelling() {
        let mut r = Reader::default();
        let items = r
            .push(b"id:1\r\ndata:a\rdata:  b\r\rretry: 5\nunknown\ndata\n\nevent: x\n\n")
            .unwrap();
        // `data` without a colon is an empty data line; an event of only
        // `event:` has no data and is dropped.
        assert_eq!(
            items,
            [ev(Some("1"), "message", "a\n b"), ev(None, "message", "")]
        );
    }

    #[test]
    fn bad_streams_are_errors() {
        let mut r = Reader::default();
        assert_eq!(r.push(b"data: \xff\n"), Err(SseError::NotUtf8));
        let mut r = Reader::default();
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(r.push(&long), Err(SseError::LineTooLong));
    }

    #[test]
    fn comments_cannot_break_lines() {
        assert_eq!(comment("a\nb\rc"), ": a b c\n\n");
    }
}
