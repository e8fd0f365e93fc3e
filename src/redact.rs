//! Secrets out of URLs before anything shows or stores them for others.
//!
//! A URL carries credentials in its userinfo (`user:password@`, or a lone
//! token as in `nats://TOKEN@host`) and in its query or fragment
//! (`?api_key=...`, `#access_token=...`). tidings connects and fetches with
//! the real URL; logs, errors, `tidings check`, records, the state store and
//! fixture folders get the copy [`url`] or [`text`] makes, with each secret
//! replaced by [`MASK`].
//!
//! The work is done on the text, not on a parsed and re-serialized URL: the
//! result is the input byte for byte wherever there was no secret (a state
//! key or record id made from a URL without one does not change), it is the
//! same when applied twice, and an invalid URL, which is what `check` has to
//! talk about, is redacted too.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// A secret held apart from any URL (a password from the config): it is
/// used where needed and shows as [`MASK`] when debug-printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// A URL (or a comma-separated list of them, as NATS takes) without its
/// secrets. The input is taken to be a URL even without a scheme:
/// `TOKEN@host:4222` hides `TOKEN`.
pub fn url(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    list(raw.as_bytes(), &mut out);
    into_string(out)
}

/// Free text (a log line, an error message) with the secrets of every
/// `scheme://` URL in it hidden; the rest is left as it is.
pub fn text(raw: &str) -> String {
    match bytes(raw.as_bytes()) {
        Cow::Borrowed(_) => raw.to_string(),
        Cow::Owned(out) => into_string(out),
    }
}

/// [`text`] for bytes in any ASCII-compatible encoding (a recorded page or
/// feed): only ASCII delimiters are looked at and only whole runs between
/// them replaced.
pub fn bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = find(&raw[from..], b"://") {
        let sep = from + found;
        let start = scheme_start(raw, sep);
        let end = sep
            + 3
            + raw[sep + 3..]
                .iter()
                .take_while(|&&b| !ends_token(b))
                .count();
        if start < sep {
            let mut redacted = Vec::new();
            list(&raw[start..end], &mut redacted);
            if redacted != raw[start..end] {
                let buf = out.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&raw[copied..start]);
                buf.extend_from_slice(&redacted);
                copied = end;
            }
        }
        from = end.max(sep + 3);
    }
    match out {
        None => Cow::Borrowed(raw),
        Some(mut buf) => {
            buf.extend_from_slice(&raw[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// Whether a query or fragment parameter of this name holds a credential.
/// Case, `-` for `_` and percent-encoding do not matter; a name ending in
/// `key`, `token`, `secret` and the like counts (`x-api-key`,
/// `oauth_token`, `X-Amz-Signature`).
pub fn is_secret_param(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "auth",
        "authorization",
        "pass",
        "pwd",
        "sig",
        "session",
        "sessionid",
        "session_id",
        "jwt",
    ];
    const ENDINGS: &[&str] = &[
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "signature",
        "credential",
        "credentials",
        "_sig",
        "_pwd",
    ];
    let decoded: String = url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default();
    // `&amp;` separators in a page or feed leave `amp;` before the name.
    let n = decoded
        .strip_prefix("amp;")
        .unwrap_or(&decoded)
        .to_ascii_lowercase()
        .replace('-', "_");
    NAMES.contains(&n.as_str()) || ENDINGS.iter().any(|e| n.ends_with(e))
}

fn into_string(out: Vec<u8>) -> String {
    // Only whole runs between ASCII delimiters were replaced, so UTF-8 in
    // is UTF-8 out; the fallback keeps this total all the same.
    String::from_utf8(out).unwrap_or_else(|_| MASK.to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Where the scheme before the `://` at `sep` starts (`sep` itself when
/// there is none).
fn scheme_start(raw: &[u8], sep: usize) -> usize {
    let mut i = sep;
    while i > 0 && (raw[i - 1].is_ascii_alphanumeric() || matches!(raw[i - 1], b'+' | b'.' | b'-'))
    {
        i -= 1;
    }
    // A scheme starts with a letter.
    while i < sep && !raw[i].is_ascii_alphabetic() {
        i += 1;
    }
    i
}

/// Bytes that never belong to a URL in text: where a URL in a log line,
/// a JSON string or an HTML attribute ends.
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace()
        || b.is_ascii_control()
        || matches!(
            b,
            b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b'{' | b'}' | b'|' | b'^'
        )
}

/// Where a list of URLs breaks: at each comma followed (after spaces) by
/// another `scheme://`. A comma anywhere else (a PostgreSQL host list, a
/// query value) stays inside its URL.
fn list_breaks(raw: &[u8]) -> Vec<usize> {
    let mut breaks = Vec::new();
    for (i, &b) in raw.iter().enumerate() {
        if b != b',' {
            continue;
        }
        let rest = &raw[i + 1..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        let scheme = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            .count();
        if scheme > 0 && rest[0].is_ascii_alphabetic() && rest[scheme..].starts_with(b"://") {
            breaks.push(i + 1);
        }
    }
    breaks
}

/// URLs separated by commas, each appended to `out` with its secrets masked.
fn list(raw: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for next in list_breaks(raw) {
        one(&raw[start..next], out);
        start = next;
    }
    one(&raw[start..], out);
}

/// One URL, appended to `out` with its secrets masked.
fn one(raw: &[u8], out: &mut Vec<u8>) {
    let (lead, raw) = raw.split_at(raw.iter().take_while(|b| b.is_ascii_whitespace()).count());
    out.extend_from_slice(lead);
    let (head, rest) = match find(raw, b"://") {
        Some(i) => raw.split_at(i + 3),
        None => raw.split_at(0),
    };
    out.extend_from_slice(head);
    let scheme = head.strip_suffix(b"://").unwrap_or_default();
    let valid = std::str::from_utf8(raw).is_ok_and(|s| url::Url::parse(s.trim()).is_ok());
    // Where the userinfo ends: at the last `@` of the authority of a valid
    // URL (an `@` in its path is no userinfo: `https://site/@user`); an
    // invalid one may have `/`, `?` or `#` unescaped in its password, so
    // there it is the last `@` of all, whatever it hides.
    let authority_end = if valid {
        rest.iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
            .unwrap_or(rest.len())
    } else {
        rest.len()
    };
    let rest = match rest[..authority_end].iter().rposition(|&b| b == b'@') {
        Some(at) => {
            userinfo(scheme, &rest[..at], out);
            &rest[at..]
        }
        None => rest,
    };
    // The query and the fragment: `name=value` pairs split at `&`.
    let mut last = 0;
    let mut in_params = false;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b'?' | b'#' => {
                params(&rest[last..i], in_params, out);
                out.push(b);
                last = i + 1;
                in_params = true;
            }
            _ => {}
        }
    }
    params(&rest[last..], in_params, out);
}

/// `user:password` keeps the user; a lone name is a token, except in
/// PostgreSQL URLs, where it is the role to log in as.
fn userinfo(scheme: &[u8], info: &[u8], out: &mut Vec<u8>) {
    match info.iter().position(|&b| b == b':') {
        Some(colon)
            if !info[..colon]
                .iter()
                .any(|b| matches!(b, b'/' | b'?' | b'#')) =>
        {
            out.extend_from_slice(&info[..=colon]);
            out.extend_from_slice(MASK.as_bytes());
        }
        Some(_) => out.extend_from_slice(MASK.as_bytes()),
        None if info.is_empty()
            || scheme.eq_ignore_ascii_case(b"postgres")
            || scheme.eq_ignore_ascii_case(b"postgresql") =>
        {
            out.extend_from_slice(info)
        }
        None => out.extend_from_slice(MASK.as_bytes()),
    }
}

/// Query or fragment text (`in_params`), else a path: copied with the
/// values of secret parameters masked.
fn params(part: &[u8], in_params: bool, out: &mut Vec<u8>) {
    if !in_params {
        out.extend_from_slice(part);
        return;
    }
    for (i, pair) in part.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        let secret = pair.iter().position(|&b| b == b'=').filter(|&eq| {
            eq + 1 < pair.len() && std::str::from_utf8(&pair[..eq]).is_ok_and(is_secret_param)
        });
        match secret {
            Some(eq) => {
                out.extend_from_slice(&pair[..=eq]);
                out.extend_from_slice(MASK.as_bytes());
            }
            None => out.extend_from_slice(pair),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_loses_its_password_and_a_lone_token() {
        assert_eq!(
            url("https://reader:pa55word@feeds.example/wire.xml"),
            "https://reader:***@feeds.example/wire.xml"
        );
        assert_eq!(
            url("nats://S3CRET@bus.local:4222"),
            "nats://***@bus.local:4222"
        );
        assert_eq!(url("S3CRET@bus.local:4222"), "***@bus.local:4222");
        assert_eq!(
            url("postgres://news:s3cret@db.local:5433/newsroom"),
            "postgres://news:***@db.local:5433/newsroom"
        );
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test",
            "a PostgreSQL user name alone is no secret"
        );
    }

    #[test]
    fn secret_query_and_fragment_values_are_masked_the_rest_kept() {
        assert_eq!(
            url("https://api.example/feed?q=ukraine&api_key=K3Y&page=2"),
            "https://api.example/feed?q=ukraine&api_key=***&page=2"
        );
        assert_eq!(
            url("https://x.example/a?X-Amz-Signature=ab&X-Amz-Credential=cd&Expires=1"),
            "https://x.example/a?X-Amz-Signature=***&X-Amz-Credential=***&Expires=1"
        );
        assert_eq!(
            url("https://x.example/cb#state=1&access_token=T0K"),
            "https://x.example/cb#state=1&access_token=***"
        );
        for name in [
            "api_key",
            "apikey",
            "key",
            "token",
            "access_token",
            "auth",
            "password",
            "passwd",
            "pwd",
            "secret",
            "signature",
            "sig",
            "client_secret",
            "session",
            "sessionid",
            "x-api-key",
            "oauth_token",
            "accessToken",
            "api%5Fkey",
            "PASSWORD",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["id", "q", "page", "utm_source", "sid", "lang", "story"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }

    #[test]
    fn urls_without_secrets_come_back_byte_for_byte() {
        for raw in [
            "https://News.Example:443/a/../b?utm_source=x&q=a%20b#top",
            "https://medium.example/@author/story-1",
            "nats://127.0.0.1:4222",
            "http://127.0.0.1:8080/feed.xml?token=",
            "",
            "not a url at all",
        ] {
            assert_eq!(url(raw), raw);
            assert_eq!(text(raw), raw);
        }
    }

    #[test]
    fn invalid_urls_are_masked_up_to_the_last_at() {
        assert_eq!(
            url("postgres://admin:pa/ss?w@db host:5432/x"),
            "postgres://admin:***@db host:5432/x"
        );
        assert_eq!(
            url("https://u:p@ss@bad host/x?token=T"),
            "https://u:***@bad host/x?token=***"
        );
    }

    #[test]
    fn server_lists_are_redacted_server_by_server() {
        assert_eq!(
            url("nats://a:pw@one.local:4222, nats://T0K@two.local:4222,nats://three.local"),
            "nats://a:***@one.local:4222, nats://***@two.local:4222,nats://three.local"
        );
        assert_eq!(
            url("postgresql://u:pw@h1:5432,h2:5433/db?password=x"),
            "postgresql://u:***@h1:5432,h2:5433/db?password=***"
        );
    }

    #[test]
    fn text_redacts_every_url_in_it_and_nothing_else() {
        assert_eq!(
            text(
                r#"poll failed: "http://u:pw@a.example/f?key=K" (then nats://T@b:4222), user@mail.example"#
            ),
            r#"poll failed: "http://u:***@a.example/f?key=***" (then nats://***@b:4222), user@mail.example"#
        );
        let feed = b"<link>http://w.example/a?id=1&amp;token=T0K</link>\xe9";
        assert_eq!(
            &*bytes(feed),
            b"<link>http://w.example/a?id=1&amp;token=***</link>\xe9"
        );
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        for raw in [
            "https://reader:pa55word@feeds.example/wire.xml?api_key=K",
            "nats://T@bus:4222,nats://u:p@bus2:4222",
            "postgres://admin:pa/ss@db host/x",
        ] {
            let once = url(raw);
            assert_eq!(url(&once), once);
            assert_eq!(text(&once), once);
        }
    }
}
