//! A cheap guard against pathological nesting.
//!
//! html5ever's tree builder checks element scope against the whole stack of
//! open elements, so its work grows with the square of the nesting depth:
//! 40 000 nested `<div>`s take seconds, a few MiB of them hours. Real pages
//! nest a few dozen levels. Before parsing, a linear scan estimates the depth
//! and cuts the page where it goes past the limit.

/// Elements that never nest: void elements and those whose end tag is
/// optional and implied by the next sibling (`<p>`, `<li>`, table parts), so
/// that pages which leave them open are not counted as deep.
fn never_nests(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"source"
            | b"track"
            | b"wbr"
            | b"param"
            | b"keygen"
            | b"p"
            | b"li"
            | b"dt"
            | b"dd"
            | b"option"
            | b"optgroup"
            | b"tr"
            | b"td"
            | b"th"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"colgroup"
            | b"rp"
            | b"rt"
            | b"image"
    )
}

/// Elements whose content is text, not markup: a `<div>` inside a script is
/// not an element.
fn raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script"
            | b"style"
            | b"textarea"
            | b"title"
            | b"xmp"
            | b"iframe"
            | b"noembed"
            | b"noframes"
            | b"plaintext"
    )
}

/// Position of `needle` (ASCII case-insensitive) at or after `from`. The
/// needles here start with punctuation, so the first byte is matched exactly
/// in a tight loop and only candidates are compared in full.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = from;
    loop {
        i += memchr::memchr(first, hay.get(i..)?)?;
        let tail = hay.get(i + 1..i + needle.len())?;
        if tail.eq_ignore_ascii_case(rest) {
            return Some(i);
        }
        i += 1;
    }
}

/// Byte offset of the tag at which the estimated nesting depth first goes
/// over `max`, if it does.
pub fn too_deep_at(html: &str, max: usize) -> Option<usize> {
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let mut name = [0u8; 16];
    while let Some(off) = b.get(i..).and_then(|s| memchr::memchr(b'<', s)) {
        let start = i + off;
        i = start + 1;
        match b.get(i) {
            Some(b'!') if b[i..].starts_with(b"!--") => {
                i = find(b, i + 3, b"-->").map_or(b.len(), |e| e + 3);
            }
            Some(b'!' | b'?') => i = find(b, i, b">").map_or(b.len(), |e| e + 1),
            Some(&c) if c == b'/' || c.is_ascii_alphabetic() => {
                let closing = c == b'/';
                let name_start = if closing { i + 1 } else { i };
                let len = b[name_start..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let n = len.min(name.len());
                for (dst, src) in name.iter_mut().zip(&b[name_start..name_start + n]) {
                    *dst = src.to_ascii_lowercase();
                }
                let tag = &name[..n];
                let end = find(b, name_start, b">").unwrap_or(b.len());
                i = end + 1;
                if closing {
                    if !never_nests(tag) {
                        depth = depth.saturating_sub(1);
                    }
                } else if raw_text(tag) {
                    let mut close = Vec::with_capacity(n + 2);
                    close.extend_from_slice(b"</");
                    close.extend_from_slice(tag);
                    i = find(b, i, &close).unwrap_or(b.len());
                } else if !never_nests(tag) && b.get(end.wrapping_sub(1)) != Some(&b'/') {
                    depth += 1;
                    if depth > max {
                        return Some(start);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_markup_is_shallow() {
        let page = "<html><body><div><p>a<p>b<ul><li>x<li>y</ul><br><img src=x>\
                    <script>var s = '<div><div><div>';</script><!-- <div><div> --></div></body></html>";
        assert_eq!(too_deep_at(page, 4), None);
    }

    #[test]
    fn deep_nesting_is_cut_at_the_limit() {
        let page = format!("<html><body>{}", "<div>".repeat(100));
        let cut = too_deep_at(&page, 50).expect("too deep");
        assert_eq!(&page[cut..cut + 5], "<div>");
        assert_eq!(page[..cut].matches("<div>").count(), 48);
    }
}
