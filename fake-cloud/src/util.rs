//! Small shared helpers: request/response types, time, randomness.

use rand::Rng;
use serde_json::Value;

/// A fully read HTTP request.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// First value of a query parameter (decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The `Authorization` header split into (scheme, credentials).
    pub fn authorization(&self) -> Option<(String, String)> {
        let h = self.header("authorization")?.trim();
        let (scheme, rest) = h.split_once(' ')?;
        Some((scheme.to_string(), rest.trim().to_string()))
    }

    /// Credentials of a `Bearer` authorization (scheme case-insensitive).
    pub fn bearer(&self) -> Option<String> {
        self.authorization()
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t)
    }

    /// Body parsed as JSON (`None` if empty or invalid).
    pub fn json(&self) -> Option<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// Path segments (after the leading `/`).
    pub fn segments(&self) -> Vec<String> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect()
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A JSON response.
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// A response without body.
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

/// The error body of Azure's REST APIs (ARM, ACR Tasks, Key Vault):
/// `{"error": {"code", "message"}}`.
pub(crate) fn azure_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

/// Percent-decodes a path segment.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Current unix time in seconds.
pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// ISO 8601 UTC timestamp with second precision, e.g. `2024-01-01T00:00:00Z`.
pub(crate) fn iso(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 timestamp, e.g. `2024-01-01T00:00:00.5Z`.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Random alphanumeric string.
pub(crate) fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Random lower-case hex string of `n` digits.
pub(crate) fn random_hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Random UUID-shaped string.
pub(crate) fn random_uuid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Deterministic small id from a string (FNV-1a), for account ids.
pub(crate) fn stable_id(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000 + h % 90_000_000
}

/// Decodes the payload of a JWT without verifying it.
pub(crate) fn jwt_payload(token: &str) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A JSON number claim as i64 (accepting floats and numeric strings).
pub(crate) fn claim_i64(v: &Value, name: &str) -> Option<i64> {
    match v.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parses a request body the way ARM's (Newtonsoft) reader does: JSON, or JSON with comments,
/// unquoted property names and trailing commas. `az deployment group create` sends such a body:
/// it splices the template text in as `template:{…}` (unquoted name, comments kept).
pub(crate) fn parse_lenient_json(text: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice(text) {
        return Some(v);
    }
    let text = std::str::from_utf8(text).ok()?;
    serde_json::from_str(&strict_json(text)).ok()
}

/// Rewrites JSONC into JSON: drops `//` and `/* */` comments and commas before `}`/`]`, and
/// quotes bare property names. Strings are copied untouched.
fn strict_json(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                // A string: copied (single quotes become double quotes).
                let quote = c;
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        // `\'` is JSON's `'`; other escapes are JSON's own.
                        if chars[i + 1] != '\'' {
                            out.push('\\');
                        }
                        i += 1;
                    } else if chars[i] == '"' {
                        out.push('\\');
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ',' => {
                if !matches!(next_significant(&chars, i + 1), Some('}' | ']')) {
                    out.push(',');
                }
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let is_name = chars[i..]
                    .iter()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|c| *c == ':');
                if is_name {
                    out.push('"');
                    out.push_str(&word);
                    out.push('"');
                } else {
                    out.push_str(&word);
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The first character from `i` on that is neither whitespace nor inside a comment.
fn next_significant(chars: &[char], mut i: usize) -> Option<char> {
    loop {
        match (chars.get(i), chars.get(i + 1)) {
            (Some(c), _) if c.is_whitespace() => i += 1,
            (Some('/'), Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            (Some('/'), Some('*')) => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            (c, _) => return c.copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_reads_what_az_sends() {
        let body = "{\"properties\": {\"mode\": \"Incremental\", template:{\r\n  // a comment\r\n  \"$schema\": \"https://x/y.json#\", /* block */ \"a\": [1, 2,],\r\n 'b': 'it\\'s \"q\"', \"c\": true, \"u\": \"http://not/a/comment\",}}}";
        let v = parse_lenient_json(body.as_bytes()).unwrap();
        let t = &v["properties"]["template"];
        assert_eq!(t["$schema"], "https://x/y.json#");
        assert_eq!(t["a"], serde_json::json!([1, 2]));
        assert_eq!(t["b"], "it's \"q\"");
        assert_eq!(t["c"], true);
        assert_eq!(t["u"], "http://not/a/comment");
        assert_eq!(v["properties"]["mode"], "Incremental");
        assert!(parse_lenient_json(b"{not json").is_none());
        // A trailing comma followed by a comment is still a trailing comma.
        let v = parse_lenient_json(b"{\"a\": [1, /* x */ ], \"b\": 2, // last\n}").unwrap();
        assert_eq!(v, serde_json::json!({"a": [1], "b": 2}));
    }

    #[test]
    fn iso_and_decode() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
        assert_eq!(random_uuid().len(), 36);
    }
}
