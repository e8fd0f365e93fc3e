//! Feed documents (RSS, Atom, JSON Feed) to feed-rs models, after repairing
//! what real feeds get wrong: an invalid byte, a `&#0;`, a stray control
//! character. Each would make the whole document unparseable and lose every
//! item in it for one broken character.

use std::borrow::Cow;

use feed_rs::model::Feed;
use feed_rs::parser::ParseFeedError;

/// Parses a feed document; the one way tidings reads a feed's bytes.
///
/// The bytes are decoded first (byte-order mark, the XML declaration's
/// encoding, else UTF-8 with U+FFFD for invalid bytes), so the parser sees
/// UTF-8 with no declared encoding left to re-decode it. Characters XML does
/// not allow, raw or as character references, are dropped.
pub fn feed(bytes: &[u8]) -> Result<Feed, ParseFeedError> {
    let text = crate::extract::decode_xml(bytes);
    let body = text.trim_start_matches('\u{feff}');
    let repaired = if body.trim_start().starts_with('{') {
        // JSON: raw control characters are never valid in it.
        legal_chars(body)
    } else {
        legal_chars(&legal_references(&utf8_declaration(body)))
    };
    feed_rs::parser::parse(repaired.as_bytes())
}

/// Characters allowed in an XML 1.0 document (and in JSON text outside
/// escapes): no C0 controls but tab and line ends, no U+FFFE / U+FFFF.
fn is_legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn legal_chars(text: &str) -> String {
    text.chars().filter(|&c| is_legal(c)).collect()
}

/// The text with character references to characters XML does not allow
/// (`&#0;`, `&#x1B;`, `&#xFFFF;`, out of range) removed; other references and
/// malformed ones are left to the parser.
fn legal_references(text: &str) -> Cow<'_, str> {
    if !text.contains("&#") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((len, legal)) => {
                if legal {
                    out.push_str(&rest[..len]);
                }
                rest = &rest[len..];
            }
            None => {
                out.push_str("&#");
                rest = &rest[2..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A character reference at the start of `text` (which starts with `&#`):
/// its length and whether it names a legal character.
fn reference(text: &str) -> Option<(usize, bool)> {
    let body = &text[2..];
    let (digits, radix, skip) = match body.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16, 3),
        None => (body, 10, 2),
    };
    let len = digits
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if len == 0 || !digits[len..].starts_with(';') {
        return None;
    }
    let digits = &digits[..len];
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Too many digits for any code point is out of range, hence illegal.
    let legal = u32::from_str_radix(digits, radix)
        .ok()
        .and_then(char::from_u32)
        .is_some_and(is_legal);
    Some((skip + len + 1, legal))
}

/// The document with the encoding pseudo-attribute of its XML declaration
/// removed: the text is UTF-8 now, whatever the bytes were.
fn utf8_declaration(text: &str) -> Cow<'_, str> {
    let Some(decl_len) = text.starts_with("<?xml").then(|| text.find("?>")).flatten() else {
        return Cow::Borrowed(text);
    };
    let decl = &text[..decl_len];
    let Some(at) = decl.find("encoding") else {
        return Cow::Borrowed(text);
    };
    let after = decl[at + 8..].trim_start();
    let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
        return Cow::Borrowed(text);
    };
    let Some(quote) = value.chars().next().filter(|q| matches!(q, '"' | '\'')) else {
        return Cow::Borrowed(text);
    };
    let Some(close) = value[1..].find(quote) else {
        return Cow::Borrowed(text);
    };
    // `value` ends where the declaration does; cut through its closing quote.
    let end = decl_len - value.len() + 1 + close + 1;
    let start = decl[..at].trim_end().len();
    Cow::Owned(format!("{}{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_references_are_dropped_and_others_kept() {
        assert_eq!(
            legal_references("a&#0;b&#x0;c&#x1b;d&#65;e&#x41;f&#1114112;g&#99999999999;h"),
            "abcd&#65;e&#x41;fgh"
        );
        assert_eq!(legal_references("&#;&#xZZ;&#12"), "&#;&#xZZ;&#12");
        assert_eq!(legal_references("&amp;#0; &#xD800;"), "&amp;#0; ");
    }

    #[test]
    fn the_declared_encoding_is_removed() {
        assert_eq!(
            utf8_declaration("<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss/>"),
            "<?xml version=\"1.0\"?><rss/>"
        );
        assert_eq!(
            utf8_declaration("<?xml version='1.0' encoding = 'KOI8-R' standalone='yes'?><a/>"),
            "<?xml version='1.0' standalone='yes'?><a/>"
        );
        assert_eq!(utf8_declaration("<rss/>"), "<rss/>");
    }

    fn rss(items: &str) -> String {
        format!("<rss version=\"2.0\"><channel><title>T</title>{items}</channel></rss>")
    }

    #[test]
    fn a_legacy_encoded_feed_is_read_in_its_declared_encoding() {
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"windows-1251\"?>{}",
            rss("<item><title>Переговоры</title><guid>1</guid></item>")
        );
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&doc);
        let parsed = feed(&bytes).unwrap();
        assert_eq!(
            parsed.entries[0].title.as_ref().unwrap().content,
            "Переговоры"
        );
    }

    #[test]
    fn a_stray_byte_a_nul_reference_and_a_control_character_lose_no_item() {
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
            rss("<item><title>Talks @ resume</title><guid>1</guid></item>\
                 <item><title>Monitors&#0; arrive\x01</title><guid>2</guid></item>")
        );
        let bytes: Vec<u8> = doc
            .bytes()
            .map(|b| if b == b'@' { 0xFF } else { b })
            .collect();
        let parsed = feed(&bytes).unwrap();
        let titles: Vec<&str> = parsed
            .entries
            .iter()
            .map(|e| e.title.as_ref().unwrap().content.as_str())
            .collect();
        assert_eq!(titles, ["Talks \u{FFFD} resume", "Monitors arrive"]);
    }
}
