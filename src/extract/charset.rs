//! Raw page bytes to text: what the page declares first, then what its bytes say.

use encoding_rs::{Encoding, KOI8_R, UTF_8, WINDOWS_1251, WINDOWS_1252};

/// How far into the page a `<meta charset>` is looked for. The HTML spec's
/// prescan stops at 1024 bytes; real pages put long `<head>` scripts first, so
/// a little more is read.
const META_SCAN_BYTES: usize = 4096;

/// Decodes raw page bytes to UTF-8: byte-order mark, then the charset of the
/// `Content-Type` header, then `<meta charset>` / `<meta http-equiv>`, then
/// UTF-8 when the bytes read as UTF-8, else a guess between windows-1251,
/// KOI8-R and windows-1252 from the bytes themselves. Undecodable bytes become
/// U+FFFD; this never fails.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(enc, &bytes[bom_len..]);
    }
    let declared = content_type
        .and_then(charset_param)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| meta_charset(&bytes[..bytes.len().min(META_SCAN_BYTES)]));
    decode_declared(bytes, declared)
}

/// Decodes an XML document (a feed) to UTF-8: byte-order mark, then the
/// encoding its `<?xml .. encoding=".."?>` declaration names, else UTF-8, the
/// XML default. The declaration itself is left as it is.
pub fn decode_xml(bytes: &[u8]) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(enc, &bytes[bom_len..]);
    }
    decode_declared(bytes, Some(xml_encoding(bytes).unwrap_or(UTF_8)))
}

/// How many invalid sequences a document declared UTF-8 may hold and stay
/// UTF-8 whatever else it holds: a few stray bytes do not make a charset.
const STRAY_BYTES: usize = 3;

fn decode_declared(bytes: &[u8], declared: Option<&'static Encoding>) -> String {
    let utf8 = match declared {
        Some(enc) if enc != UTF_8 => return decode_with(enc, bytes),
        // A page labelled UTF-8 that is not is mislabelled legacy text, but
        // one that reads as UTF-8 for all but a few bytes is UTF-8 with
        // U+FFFD in their place.
        Some(_) => {
            let fit = Utf8Fit::of(bytes);
            fit.mostly() || fit.invalid <= STRAY_BYTES
        }
        None => Utf8Fit::of(bytes).mostly(),
    };
    if utf8 {
        decode_with(UTF_8, bytes)
    } else {
        decode_with(guess_legacy(bytes), bytes)
    }
}

/// How well bytes read as UTF-8.
struct Utf8Fit {
    /// Valid characters of two bytes or more.
    multi: usize,
    /// Invalid sequences, each of which would become one U+FFFD.
    invalid: usize,
}

impl Utf8Fit {
    fn of(bytes: &[u8]) -> Utf8Fit {
        // A multi-byte character has exactly one byte >= 0xC0, its lead.
        let leads = |valid: &[u8]| valid.iter().filter(|&&b| b >= 0xC0).count();
        let mut fit = Utf8Fit {
            multi: 0,
            invalid: 0,
        };
        let mut rest = bytes;
        loop {
            match std::str::from_utf8(rest) {
                Ok(_) => {
                    fit.multi += leads(rest);
                    return fit;
                }
                Err(e) => {
                    fit.multi += leads(&rest[..e.valid_up_to()]);
                    fit.invalid += 1;
                    match e.error_len() {
                        Some(len) => rest = &rest[e.valid_up_to() + len..],
                        // Cut off in the middle of a character at the end.
                        None => return fit,
                    }
                }
            }
        }
    }

    /// UTF-8 but for a few invalid sequences: at least two valid multi-byte
    /// characters for every invalid sequence. Legacy 8-bit text forms valid
    /// multi-byte sequences only by chance (an uppercase Cyrillic letter
    /// before "і" in windows-1251), far more rarely than invalid ones.
    fn mostly(&self) -> bool {
        self.invalid == 0 || self.invalid * 2 <= self.multi
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> String {
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// The `charset=` parameter of a `Content-Type` value, unquoted.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
    })
}

/// The encoding named by a `<meta charset=..>` or `<meta http-equiv
/// content="..; charset=..">` in the page's first bytes. UTF-16 labels are
/// read as UTF-8, as the HTML spec says, since a page that could be read as
/// ASCII to find its meta tag cannot be UTF-16.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let mut rest = head;
    while let Some(pos) = find_ascii_ci(rest, b"<meta") {
        let tag = &rest[pos + 5..];
        let end = tag.iter().position(|&b| b == b'>').unwrap_or(tag.len());
        let tag = &tag[..end];
        if let Some(cs) = find_ascii_ci(tag, b"charset") {
            let value = tag[cs + 7..].trim_ascii_start();
            if let Some(value) = value.strip_prefix(b"=") {
                let value: Vec<u8> = value
                    .iter()
                    .copied()
                    .skip_while(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
                    .take_while(|b| {
                        !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b';' | b'/' | b'>')
                    })
                    .collect();
                if let Some(enc) = Encoding::for_label(&value) {
                    return Some(if enc.name().starts_with("UTF-16") {
                        UTF_8
                    } else {
                        enc
                    });
                }
            }
        }
        rest = &rest[pos + 5 + end..];
    }
    None
}

/// The encoding named by an XML declaration at the very start of the
/// document. As for `<meta charset>`, a UTF-16 label on a declaration that
/// reads as ASCII means UTF-8.
fn xml_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let decl = head.strip_prefix(b"<?xml")?;
    let decl = &decl[..find_ascii_ci(decl, b"?>")?];
    let at = find_ascii_ci(decl, b"encoding")?;
    let value = decl[at + 8..].trim_ascii_start().strip_prefix(b"=")?;
    let value = value.trim_ascii_start();
    let quote = *value.first().filter(|q| matches!(q, b'"' | b'\''))?;
    let value = &value[1..];
    let label = &value[..value.iter().position(|&b| b == quote)?];
    let enc = Encoding::for_label(label)?;
    Some(if enc.name().starts_with("UTF-16") {
        UTF_8
    } else {
        enc
    })
}

fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Guesses the legacy 8-bit encoding of bytes that are not UTF-8.
///
/// Cyrillic text is written almost entirely in bytes >= 0x80 that come in runs
/// (whole words), while Western European text has isolated accented letters
/// inside ASCII words: that tells Cyrillic from windows-1252. Between the two
/// Cyrillic encodings, lowercase letters dominate running text; windows-1251
/// puts them at 0xE0..=0xFF and KOI8-R at 0xC0..=0xDF, and the decoded letter
/// frequencies confirm which reading looks like Russian.
fn guess_legacy(bytes: &[u8]) -> &'static Encoding {
    let mut high = 0usize;
    let mut in_runs = 0usize;
    let mut prev_high = false;
    for (i, &b) in bytes.iter().enumerate() {
        let is_high = b >= 0x80;
        if is_high {
            high += 1;
            let next_high = bytes.get(i + 1).is_some_and(|&n| n >= 0x80);
            if prev_high || next_high {
                in_runs += 1;
            }
        }
        prev_high = is_high;
    }
    if high == 0 || in_runs * 2 < high {
        return WINDOWS_1252;
    }
    let score_1251 = russian_score(WINDOWS_1251, bytes);
    let score_koi8 = russian_score(KOI8_R, bytes);
    if score_1251 == 0 && score_koi8 == 0 {
        WINDOWS_1252
    } else if score_koi8 > score_1251 {
        KOI8_R
    } else {
        WINDOWS_1251
    }
}

/// How Russian the text reads in this encoding: frequent lowercase letters
/// score high, uppercase letters (rare in running text) score low.
fn russian_score(enc: &'static Encoding, bytes: &[u8]) -> u64 {
    // Sample: the decision needs a few thousand letters, not a whole page.
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let (text, _) = enc.decode_without_bom_handling(sample);
    text.chars()
        .map(|c| match c {
            'о' => 11,
            'е' | 'а' | 'и' => 8,
            'н' | 'т' | 'с' => 6,
            'р' | 'в' | 'л' | 'к' => 4,
            'м' | 'д' | 'п' | 'у' | 'я' | 'ы' | 'ь' | 'г' | 'з' | 'б' | 'ч' | 'й' => 2,
            'а'..='я' | 'ё' => 1,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_charset_is_parsed_with_quotes_and_spaces() {
        assert_eq!(
            charset_param("text/html; Charset=\"KOI8-R\""),
            Some("KOI8-R")
        );
        assert_eq!(charset_param("text/html"), None);
    }

    #[test]
    fn meta_charset_forms_are_found() {
        assert_eq!(
            meta_charset(b"<head><META CHARSET='windows-1251'>"),
            Some(WINDOWS_1251)
        );
        assert_eq!(
            meta_charset(
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\">"
            ),
            Some(KOI8_R)
        );
        assert_eq!(meta_charset(b"<meta charset=utf-16>"), Some(UTF_8));
        assert_eq!(meta_charset(b"<meta name=x>"), None);
    }

    #[test]
    fn utf8_with_a_few_stray_bytes_stays_utf8() {
        let text = "Переговори про перемир'я тривають у Женеві, повідомив Зеленський.";
        let mut bytes = Vec::new();
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                bytes.push(b' ');
            }
            if i == 1 || i == 5 {
                bytes.push(0xFF);
            }
            bytes.extend_from_slice(word.as_bytes());
        }
        let expected = text
            .replace(" про", " \u{FFFD}про")
            .replace(" Женеві", " \u{FFFD}Женеві");
        assert_eq!(decode(&bytes, None), expected);
        assert_eq!(decode(&bytes, Some("text/html; charset=utf-8")), expected);
        // Cut off in the middle of the last letter, "й" (before the ".").
        assert_eq!(
            decode(&text.as_bytes()[..text.len() - 2], None),
            format!("{}\u{FFFD}", &text[..text.len() - 3])
        );
    }

    #[test]
    fn a_stray_byte_in_ascii_text_declared_utf8_is_replaced() {
        let page = b"<p>Talks \xFF resume</p>";
        assert_eq!(
            decode(page, Some("text/html; charset=utf-8")),
            "<p>Talks \u{FFFD} resume</p>"
        );
        assert_eq!(decode_xml(page), "<p>Talks \u{FFFD} resume</p>");
        // Nothing declared: an accented letter in windows-1252 is likelier.
        assert_eq!(decode(b"<p>caf\xE9</p>", None), "<p>caf\u{e9}</p>");
    }

    #[test]
    fn legacy_cyrillic_declared_or_not_as_utf8_is_still_recognised() {
        let text = "Переговоры о перемирии возобновятся в понедельник, сообщили делегации.";
        for (enc, label) in [(WINDOWS_1251, "utf-8"), (KOI8_R, "UTF-8")] {
            let (bytes, _, _) = enc.encode(text);
            assert_eq!(decode(&bytes, None), text, "{}", enc.name());
            let ct = format!("text/html; charset={label}");
            assert_eq!(decode(&bytes, Some(&ct)), text, "{}", enc.name());
        }
        // Ukrainian in windows-1251: "і" after a capital reads as a valid
        // two-byte sequence, but only now and then.
        let uk = "Міністр заявив, що Україна готова до переговорів. Він і посли обговорили мир.";
        let (bytes, _, _) = WINDOWS_1251.encode(uk);
        assert!(!Utf8Fit::of(&bytes).mostly());
    }

    #[test]
    fn xml_declaration_names_the_encoding() {
        assert_eq!(
            xml_encoding(b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss/>"),
            Some(WINDOWS_1251)
        );
        assert_eq!(
            xml_encoding(b"<?xml version='1.0' encoding = 'KOI8-R' ?>"),
            Some(KOI8_R)
        );
        assert_eq!(xml_encoding(b"<?xml version=\"1.0\"?><rss/>"), None);
        assert_eq!(xml_encoding(b"<rss encoding=\"koi8-r\"/>"), None);
        let (bytes, _, _) =
            WINDOWS_1251.encode("<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>Мир</t>");
        assert_eq!(
            decode_xml(&bytes),
            "<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>Мир</t>"
        );
    }

    #[test]
    fn latin1_text_is_not_mistaken_for_cyrillic() {
        let (bytes, _, _) =
            WINDOWS_1252.encode("Le café où l'été déçoit, à Göttingen über Straße.");
        assert_eq!(guess_legacy(&bytes), WINDOWS_1252);
    }
}
