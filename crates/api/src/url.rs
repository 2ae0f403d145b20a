//! Request targets: percent-decoding of path segments and query values (and
//! the encoding the client uses to build them).

/// A request target that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("bad percent-escape in {0:?}")]
    Escape(String),
    #[error("{0:?} does not decode to UTF-8")]
    Utf8(String),
}

/// Decode `%XX` escapes. `+` stays a `+`: targets are RFC 3986, not HTML
/// forms, and file names may contain it.
pub fn percent_decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // from_str_radix alone would take "+1"
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UrlError::Escape(s.to_string()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Utf8(s.to_string()))
}

/// Escape everything but RFC 3986's unreserved characters (and `/` when
/// `keep_slash`, for a path).
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A decoded request target: path segments and query pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Decoded segments, empty ones dropped (`/v1//log` = `/v1/log`).
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Target, UrlError> {
        // A fragment never reaches a server, but a hand-written one should
        // not end up in a value.
        let raw = raw.split('#').next().unwrap_or("");
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect::<Result<Vec<_>, _>>()?;
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((percent_decode(k)?, percent_decode(v)?))
            })
            .collect::<Result<Vec<_>, UrlError>>()?;
        Ok(Target { segments, query })
    }

    /// The last value given for `key` (a repeated key overrides, as in most
    /// servers).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc").unwrap(), "a b/c");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert_eq!(percent_decode("%C3%A4").unwrap(), "ä");
        assert!(matches!(percent_decode("%"), Err(UrlError::Escape(_))));
        assert!(matches!(percent_decode("%4"), Err(UrlError::Escape(_))));
        assert!(matches!(percent_decode("%zz"), Err(UrlError::Escape(_))));
        assert!(matches!(percent_decode("%+1"), Err(UrlError::Escape(_))));
        assert!(matches!(percent_decode("%ff"), Err(UrlError::Utf8(_))));
    }

    #[test]
    fn encode_round_trips() {
        for s in [
            "nodes/n1/qemu-server/100.conf",
            "a b&c=d?e#f%g+h",
            "ä/ö",
            "",
        ] {
            assert_eq!(percent_decode(&percent_encode(s, false)).unwrap(), s);
            assert_eq!(percent_decode(&percent_encode(s, true)).unwrap(), s);
        }
        assert_eq!(percent_encode("a/b c", true), "a/b%20c");
        assert_eq!(percent_encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn targets() {
        let t = Target::parse("/v1//files/a%20b/c?version=3&x&path=%2Fp&version=4#frag").unwrap();
        assert_eq!(t.segments, ["v1", "files", "a b", "c"]);
        assert_eq!(t.param("version"), Some("4"));
        assert_eq!(t.param("x"), Some(""));
        assert_eq!(t.param("path"), Some("/p"));
        assert_eq!(t.param("missing"), None);
        assert!(Target::parse("/v1/files/%G0").is_err());
        assert!(Target::parse("/v1/log?path=%").is_err());
        assert_eq!(Target::parse("/").unwrap().segments, Vec::<String>::new());
    }
}
