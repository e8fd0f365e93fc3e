//! Article metadata from what the page declares: `<meta>` tags, JSON-LD,
//! `<link rel=canonical>`, `<time>`, the URL itself.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use url::Url;

use super::dom::{RawMeta, collapse_ws};

/// What the page's JSON-LD says about the article.
#[derive(Debug, Default)]
pub struct JsonLd {
    pub headline: Option<String>,
    pub body: Option<String>,
    pub published: Option<String>,
    pub authors: Vec<String>,
}

/// JSON-LD objects nest (`@graph`, `mainEntity`, arrays of types); beyond
/// this many values the rest of a script is ignored.
const MAX_JSON_VALUES: usize = 10_000;

/// A longer `articleBody` is no article (long ones run to 100 KB), and its
/// paragraphs would take a parse as costly as the page's.
const MAX_BODY_BYTES: usize = 1 << 20;

impl JsonLd {
    pub fn parse(scripts: &[String]) -> JsonLd {
        let mut out = JsonLd::default();
        let mut seen = 0usize;
        for script in scripts {
            let Ok(value) = serde_json::from_str::<Value>(script.trim()) else {
                continue;
            };
            let mut stack = vec![&value];
            while let Some(v) = stack.pop() {
                seen += 1;
                if seen > MAX_JSON_VALUES {
                    return out;
                }
                match v {
                    Value::Array(items) => stack.extend(items.iter().rev()),
                    Value::Object(map) => {
                        if is_article_type(map.get("@type")) {
                            out.take_article(map);
                        }
                        stack.extend(map.values().filter(|v| v.is_object() || v.is_array()));
                    }
                    _ => {}
                }
            }
        }
        out
    }

    fn take_article(&mut self, map: &serde_json::Map<String, Value>) {
        let text = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if self.headline.is_none() {
            self.headline = text("headline").or_else(|| text("name"));
        }
        if self.published.is_none() {
            self.published = text("datePublished").or_else(|| text("dateCreated"));
        }
        if let Some(body) = text("articleBody")
            && body.len() <= MAX_BODY_BYTES
            && self.body.as_ref().is_none_or(|b| b.len() < body.len())
        {
            self.body = Some(body);
        }
        if self.authors.is_empty()
            && let Some(author) = map.get("author")
        {
            let list = match author {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for a in list {
                let name = match a {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(name) = name
                    .map(str::trim)
                    .filter(|n| !n.is_empty() && !n.contains("://"))
                {
                    self.authors.push(collapse_ws(name));
                }
            }
        }
    }
}

fn is_article_type(t: Option<&Value>) -> bool {
    let is_article = |s: &str| {
        s.ends_with("Article") || s == "BlogPosting" || s == "Report" || s == "LiveBlogPosting"
    };
    match t {
        Some(Value::String(s)) => is_article(s),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(is_article),
        _ => false,
    }
}

pub fn meta<'a>(raw: &'a RawMeta, key: &str) -> Option<&'a str> {
    raw.metas
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// og:title, JSON-LD headline, the first `<h1>`, then `<title>`; site names
/// stripped from the ends.
pub fn title(raw: &RawMeta, ld: &JsonLd) -> Option<String> {
    let site = meta(raw, "og:site_name");
    let candidates = [
        meta(raw, "og:title").map(|t| strip_site(t, site, false)),
        ld.headline.clone(),
        raw.h1.clone(),
        meta(raw, "twitter:title").map(|t| strip_site(t, site, false)),
        raw.title.as_deref().map(|t| strip_site(t, site, true)),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|t| collapse_ws(&t))
        .find(|t| !t.is_empty())
}

/// How many names a `<title>` sheds from its end at most.
const MAX_TITLE_STRIPS: usize = 4;

const TITLE_SEPARATORS: &[&str] = &[" | ", " - ", " — ", " – ", " · ", " :: ", " » ", " / "];

/// Removes a site name from either end of a title. A part equal to the
/// declared site name always goes; in a `<title>`, where the site suffix is
/// the custom, the shorter end part goes when it is at most a few words and
/// the rest is clearly longer, a few times at most (each look goes through
/// the whole title).
fn strip_site(title: &str, site: Option<&str>, is_html_title: bool) -> String {
    let mut title = collapse_ws(title);
    let mut shed = 0;
    'shed: loop {
        for sep in TITLE_SEPARATORS {
            let Some((head, tail)) = title.rsplit_once(sep) else {
                continue;
            };
            if site.is_some_and(|s| tail.trim().eq_ignore_ascii_case(s.trim())) {
                return head.trim().to_owned();
            }
            if let Some((first, rest)) = title.split_once(sep)
                && site.is_some_and(|s| first.trim().eq_ignore_ascii_case(s.trim()))
            {
                return rest.trim().to_owned();
            }
            if is_html_title && shed < MAX_TITLE_STRIPS {
                let tail_words = tail.split_whitespace().count();
                let head_words = head.split_whitespace().count();
                if tail_words <= 4 && head_words > tail_words {
                    title = collapse_ws(head);
                    shed += 1;
                    continue 'shed;
                }
            }
        }
        return title;
    }
}

/// rel=canonical, else og:url, resolved against the page URL; only absolute
/// http(s) URLs are kept.
pub fn canonical_url(raw: &RawMeta, page_url: Option<&str>) -> Option<String> {
    let base = page_url.and_then(|u| Url::parse(u).ok());
    [raw.canonical.as_deref(), meta(raw, "og:url")]
        .into_iter()
        .flatten()
        .filter_map(|href| {
            let href = href.trim();
            match &base {
                Some(base) => base.join(href).ok(),
                None => Url::parse(href).ok(),
            }
        })
        .find(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(String::from)
}

/// JSON-LD datePublished, then the meta tags publishers use, then the first
/// `<time>`, then a date in the URL path.
pub fn published_at(raw: &RawMeta, ld: &JsonLd, page_url: Option<&str>) -> Option<DateTime<Utc>> {
    const META_KEYS: &[&str] = &[
        "article:published_time",
        "og:published_time",
        "datepublished",
        "parsely-pub-date",
        "sailthru.date",
        "pubdate",
        "publishdate",
        "publish-date",
        "dc.date.issued",
        "dc.date",
        "dcterms.created",
        "date",
    ];
    ld.published
        .as_deref()
        .and_then(parse_date)
        .or_else(|| {
            META_KEYS
                .iter()
                .filter_map(|k| meta(raw, k))
                .find_map(parse_date)
        })
        .or_else(|| raw.time.as_deref().and_then(parse_date))
        .or_else(|| page_url.and_then(date_in_url))
}

/// Parses the date forms found in pages: RFC 3339, ISO 8601 with a `+0100`
/// offset or none (read as UTC), a bare date (midnight UTC), RFC 2822.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    parse_date_any(s).filter(|t| (1990..=2100).contains(&t.year()))
}

fn parse_date_any(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.trim_end_matches('Z');
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    let date_part = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

/// A `/2024/03/15/` or `2024-03-15` date in a URL path, as midnight UTC.
pub fn date_in_url(url: &str) -> Option<DateTime<Utc>> {
    let path = Url::parse(url).ok()?.path().to_owned();
    let segs: Vec<&str> = path.split('/').collect();
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    for w in segs.windows(3) {
        if let (Some(y), Some(m), Some(d)) = (num(w[0], 4), num(w[1], 2), num(w[2], 2))
            && let Some(t) = midnight(y, m, d)
        {
            return Some(t);
        }
    }
    for seg in segs {
        for start in 0..seg.len().saturating_sub(9) {
            let Some(cand) = seg.get(start..start + 10) else {
                continue;
            };
            let b = cand.as_bytes();
            if b[4] == b'-'
                && b[7] == b'-'
                && let (Some(y), Some(m), Some(d)) =
                    (num(&cand[..4], 4), num(&cand[5..7], 2), num(&cand[8..], 2))
                && let Some(t) = midnight(y, m, d)
            {
                return Some(t);
            }
        }
    }
    None
}

fn midnight(y: u32, m: u32, d: u32) -> Option<DateTime<Utc>> {
    if !(1990..=2100).contains(&y) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// JSON-LD authors, the author meta tags, then the page's byline element.
pub fn byline(raw: &RawMeta, ld: &JsonLd) -> Option<String> {
    let ld_authors: Vec<String> = ld
        .authors
        .iter()
        .map(|a| clean_byline(a))
        .filter(|a| !a.is_empty())
        .collect();
    if !ld_authors.is_empty() {
        return Some(ld_authors.join(", "));
    }
    [
        meta(raw, "author"),
        meta(raw, "byl"),
        meta(raw, "article:author"),
    ]
    .into_iter()
    .flatten()
    .map(str::to_owned)
    .chain(raw.byline.clone())
    .filter(|b| !b.contains("://") && b.split_whitespace().count() <= 16)
    .map(|b| clean_byline(&b))
    // Longer than a few names is a headline or a sentence that happened
    // to sit in an element called "author".
    .find(|b| !b.is_empty() && b.split_whitespace().count() <= 7)
}

/// A byline as people write it: without "By", and without the date, reading
/// time or "Print this article" that pages put in the same element.
fn clean_byline(b: &str) -> String {
    let b = collapse_ws(b);
    let mut words: Vec<&str> = Vec::new();
    for (i, word) in b.split(' ').enumerate() {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        let lower = bare.to_lowercase();
        if i == 0
            && matches!(
                lower.as_str(),
                "by" | "von" | "par" | "por" | "автор" | "posted"
            )
        {
            continue;
        }
        if words.is_empty() && lower == "by" {
            continue;
        }
        if matches!(word, "|" | "•" | "—" | "–" | "-" | "/")
            || bare.starts_with(|c: char| c.is_ascii_digit())
            || is_month(&lower)
        {
            break;
        }
        // "Campos5 Min Read": a name glued to the next element's digits.
        if let Some(pos) = word.find(|c: char| c.is_ascii_digit()) {
            words.push(&word[..pos]);
            break;
        }
        words.push(word);
    }
    words
        .join(" ")
        .trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '|' | '-'))
        .to_owned()
}

fn is_month(word: &str) -> bool {
    matches!(
        word,
        "january"
            | "february"
            | "march"
            | "april"
            | "may"
            | "june"
            | "july"
            | "august"
            | "september"
            | "october"
            | "november"
            | "december"
            | "jan"
            | "feb"
            | "mar"
            | "apr"
            | "jun"
            | "jul"
            | "aug"
            | "sep"
            | "sept"
            | "oct"
            | "nov"
            | "dec"
            | "updated"
            | "published"
    )
}

/// The page's language (see [`super::language::settle`]): what it declares
/// (`<html lang>`, `content-language`, `og:locale`) when the text agrees,
/// else what the text is written in.
pub fn language(raw: &RawMeta, text: &str) -> Option<String> {
    let declared = [
        raw.lang.as_deref(),
        meta(raw, "content-language"),
        meta(raw, "language"),
        meta(raw, "og:locale"),
    ];
    super::language::settle(declared.into_iter().flatten(), text)
}

/// og:description, then the description meta tags.
pub fn description(raw: &RawMeta) -> Option<String> {
    ["og:description", "description", "twitter:description"]
        .iter()
        .filter_map(|k| meta(raw, k))
        .map(collapse_ws)
        .find(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_body_over_a_mib_is_ignored() {
        let script = |body: &str| {
            serde_json::json!({"@type": "NewsArticle", "articleBody": body}).to_string()
        };
        let long = "word ".repeat(MAX_BODY_BYTES / 5 + 1);
        assert_eq!(JsonLd::parse(&[script(&long)]).body, None);
        let fine = "word ".repeat(1000);
        assert_eq!(
            JsonLd::parse(&[script(&fine)]).body.as_deref(),
            Some(fine.trim())
        );
    }

    /// A `<title>` sheds a few trailing names, however many separators it
    /// has (one recursion per separator overflowed the stack).
    #[test]
    fn a_title_of_many_parts_sheds_a_few() {
        let title = format!("{}end", "part | ".repeat(100_000));
        let stripped = strip_site(&title, None, true);
        assert_eq!(stripped.matches(" | ").count(), 100_000 - MAX_TITLE_STRIPS);
    }

    #[test]
    fn dates_in_publisher_forms_become_utc() {
        let want = Utc.with_ymd_and_hms(2024, 3, 15, 8, 30, 0).unwrap();
        assert_eq!(parse_date("2024-03-15T10:30:00+02:00"), Some(want));
        assert_eq!(parse_date("2024-03-15T10:30:00+0200"), Some(want));
        assert_eq!(parse_date("2024-03-15T08:30:00Z"), Some(want));
        assert_eq!(parse_date("2024-03-15T08:30:00"), Some(want));
        assert_eq!(parse_date("Fri, 15 Mar 2024 08:30:00 GMT"), Some(want));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(
            parse_date("0001-01-01T00:00:00Z"),
            None,
            "placeholder dates"
        );
    }

    #[test]
    fn url_dates_are_found_in_both_forms() {
        let want = Utc.with_ymd_and_hms(2024, 3, 15, 0, 0, 0).unwrap();
        assert_eq!(
            date_in_url("https://x.org/news/2024/03/15/story"),
            Some(want)
        );
        assert_eq!(
            date_in_url("https://x.org/news/story-2024-03-15.html"),
            Some(want)
        );
        assert_eq!(date_in_url("https://x.org/news/2024/13/15/story"), None);
    }

    #[test]
    fn site_names_leave_titles() {
        assert_eq!(
            strip_site("Talks resume | The Daily", Some("The Daily"), false),
            "Talks resume"
        );
        assert_eq!(
            strip_site("Talks resume in Geneva - Daily Courier", None, true),
            "Talks resume in Geneva"
        );
        assert_eq!(strip_site("Talks - resume", None, false), "Talks - resume");
        assert_eq!(
            strip_site(
                "Talks resume in Geneva | World | Europe - Daily",
                None,
                true
            ),
            "Talks resume in Geneva"
        );
    }

    #[test]
    fn bylines_lose_prefixes_dates_and_furniture() {
        assert_eq!(
            clean_byline("By STEVE PEOPLES, AP National Writer"),
            "STEVE PEOPLES, AP National Writer"
        );
        assert_eq!(
            clean_byline("Amy Holt | November 18, 2019 12:01 PM Print"),
            "Amy Holt"
        );
        assert_eq!(clean_byline("Posted by Vortex"), "Vortex");
        assert_eq!(clean_byline("Rodrigo Campos5 Min Read"), "Rodrigo Campos");
        assert_eq!(
            clean_byline("Associated Press November 19, 2019"),
            "Associated Press"
        );
    }
}
