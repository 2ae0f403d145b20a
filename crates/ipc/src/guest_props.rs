//! Guest config property lookup of ops 11 and 13 (ipc.md §5 op 13, C's
//! `_get_property_values` and `_print_found_properties` in `status.c`).
//!
//! C scans a private copy of the config and writes NUL bytes into it while
//! trimming values; the values are read as C strings only when the output
//! is printed. We do the same on a `Vec<u8>` so that every quirk (value
//! ends at an embedded NUL, the later match wins, the re-match counter ends
//! the scan early, the first-character range filter) is kept.

/// C's `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The first byte of a C string as C's (signed) `char`.
fn first_char(s: &[u8]) -> i8 {
    s.first().copied().unwrap_or(0) as i8
}

/// `_get_property_value_from_line`: start index of the value if the line
/// `buf[line..line + len]` (NUL at `line + len`) sets `prop`.
fn value_from_line(buf: &mut [u8], line: usize, len: usize, prop: &[u8]) -> Option<usize> {
    let plen = prop.len();
    if len <= plen + 1 {
        return None;
    }
    if buf[line + plen] != b':' || &buf[line..line + plen] != prop {
        return None;
    }
    let last = line + len - 1;
    let mut start = line + plen + 1;
    let mut end = last;
    while start < end && buf[start] != 0 && is_space(buf[start]) {
        start += 1;
    }
    if buf[start] == 0 {
        return None;
    }
    while end > start && is_space(buf[end]) {
        end -= 1;
    }
    if end < last {
        buf[end + 1] = 0;
    }
    Some(start)
}

/// The values of `props` set by the main section of one guest config
/// (`conf` must end with a newline, as C ensures before scanning).
pub fn property_values(conf: &[u8], props: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
    let mut buf = conf.to_vec();
    let mut found: Vec<Option<usize>> = vec![None; props.len()];
    scan(&mut buf, props, &mut found);
    found
        .into_iter()
        .map(|start| {
            start.map(|s| {
                let end = buf[s..]
                    .iter()
                    .position(|&c| c == 0)
                    .map_or(buf.len(), |n| s + n);
                buf[s..end].to_vec()
            })
        })
        .collect()
}

fn scan(buf: &mut [u8], props: &[&[u8]], found: &mut [Option<usize>]) {
    let (mut min, mut max) = (b'z' as i8, b'a' as i8);
    for p in props {
        min = min.min(first_char(p));
        max = max.max(first_char(p));
    }
    let find_newline = |buf: &[u8], from: usize| {
        buf[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|n| from + n)
    };
    let mut line = 0;
    let Some(mut newline) = find_newline(buf, 0) else {
        return;
    };
    buf[newline] = 0;
    let mut rematches = 0usize;
    loop {
        let first = buf[line];
        if first == b'[' {
            // snapshot or pending section: the current config has ended
            return;
        }
        if first != 0 && (first as i8) >= min && (first as i8) <= max {
            let len = newline - line;
            for (i, prop) in props.iter().enumerate() {
                if let Some(value) = value_from_line(buf, line, len, prop) {
                    // C counts re-matches, not new matches (ipc.md §5 op 13 quirk)
                    rematches += usize::from(found[i].is_some());
                    found[i] = Some(value);
                }
            }
            if rematches == props.len() {
                return;
            }
        }
        line = newline + 1;
        match find_newline(buf, line) {
            Some(n) => newline = n,
            None => return,
        }
        buf[newline] = 0;
    }
}

/// The op 11/13 reply for the given guests (vmid, config content), in the
/// given order; configs without a match are left out.
pub fn render<'a>(guests: impl IntoIterator<Item = (u32, &'a [u8])>, props: &[&[u8]]) -> Vec<u8> {
    let mut out = b"{\n".to_vec();
    let mut first = true;
    for (vmid, conf) in guests {
        let mut conf = conf.to_vec();
        if conf.last() != Some(&b'\n') {
            conf.push(b'\n');
        }
        let values = property_values(&conf, props);
        let mut any = false;
        for (prop, value) in props.iter().zip(values) {
            let Some(value) = value else { continue };
            if any {
                out.push(b',');
            } else {
                if !first {
                    out.extend_from_slice(b",\n");
                }
                first = false;
                out.extend_from_slice(format!("\"{vmid}\":{{").as_bytes());
                any = true;
            }
            out.push(b'"');
            out.extend_from_slice(prop);
            out.extend_from_slice(b"\": \"");
            for &c in &value {
                if c == b'"' || c == b'\\' {
                    out.push(b'\\');
                }
                out.push(c);
            }
            out.push(b'"');
        }
        if any {
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(conf: &[u8], prop: &str) -> Option<String> {
        let mut c = conf.to_vec();
        if c.last() != Some(&b'\n') {
            c.push(b'\n');
        }
        property_values(&c, &[prop.as_bytes()])[0]
            .clone()
            .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn values_are_trimmed_and_sections_end_the_scan() {
        let conf = b"name: vm100\nlock: backup\nmemory:   2048  \n[snap1]\nlock: snapshot\n";
        assert_eq!(one(conf, "memory").as_deref(), Some("2048"));
        assert_eq!(one(conf, "lock").as_deref(), Some("backup"));
        assert_eq!(one(conf, "name").as_deref(), Some("vm100"));
        assert_eq!(one(conf, "cores"), None);
        assert_eq!(one(b"[s]\nlock: x\n", "lock"), None);
    }

    #[test]
    fn edge_cases_of_the_line_matcher() {
        assert_eq!(one(b"lock:\n", "lock"), None, "nothing after the colon");
        assert_eq!(
            one(b"lock: \n", "lock").as_deref(),
            Some(" "),
            "only whitespace gives one space"
        );
        assert_eq!(one(b"lock:x\n", "lock").as_deref(), Some("x"));
        assert_eq!(one(b"locked: x\n", "lock"), None);
        assert_eq!(
            one(b"\n\nlock: a\0b\n", "lock").as_deref(),
            Some("a"),
            "C string ends at NUL"
        );
        assert_eq!(one(b"lock: a\r\n", "lock").as_deref(), Some("a"));
        assert_eq!(
            property_values(b"lock: a", &[b"lock"])[0],
            None,
            "no newline at all"
        );
    }

    #[test]
    fn second_occurrence_wins_and_ends_a_single_property_scan() {
        let conf = b"hostname: ct101\nlock: mounted\nhostname: second\nhostname: third\n";
        assert_eq!(one(conf, "hostname").as_deref(), Some("second"));
        let both = property_values(conf, &[b"hostname", b"lock"]);
        assert_eq!(both[0].as_deref(), Some(&b"third"[..]));
        assert_eq!(both[1].as_deref(), Some(&b"mounted"[..]));
    }

    #[test]
    fn render_escapes_quotes_and_backslashes_only() {
        let out = render(
            [(
                102,
                &b"arch: amd64\ndescription: a \"quoted\" \\ back\n"[..],
            )],
            &[b"description"],
        );
        assert_eq!(
            out,
            b"{\n\"102\":{\"description\": \"a \\\"quoted\\\" \\\\ back\"}\n}\n"
        );
        assert_eq!(render([(1, &b"x: y"[..])], &[b"zzz"]), b"{\n\n}\n");
    }

    #[test]
    fn render_lists_guests_in_order_and_props_in_request_order() {
        let out = render(
            [
                (100, &b"memory: 2048\nlock: backup\n"[..]),
                (101, b"hostname: ct\n"),
                (102, b"lock: x"),
            ],
            &[b"lock", b"memory", b"hostname"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\"100\":{\"lock\": \"backup\",\"memory\": \"2048\"},\n\"101\":{\"hostname\": \"ct\"},\n\"102\":{\"lock\": \"x\"}\n}\n"
        );
    }
}
