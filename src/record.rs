//! The record a sink writes, and the parts the stages find for it.
//!
//! Extraction gives an [`Extracted`] text, which becomes an [`Article`] with
//! the record's id; dedup gives its [`Duplicate`] verdict, tagging its
//! [`Tags`]; [`Record::new`] puts them together once, at the end. The schema
//! lives here and nowhere else, and `docs/record.md` documents every field.
//! Bump [`SCHEMA_VERSION`] when a field changes meaning or disappears (adding
//! one does not need a bump).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::redact;

/// Version of the record schema carried in every record.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a document came from (the record's `source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `file`, `feed` or `stdin`.
    pub kind: OriginKind,
    /// The feed URL, or the local path of the document / feed file.
    pub location: String,
    /// The feed's configured or declared name, when there is one.
    pub name: Option<String>,
    /// Labels from the feed's config entry.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    File,
    Feed,
    Stdin,
}

/// What the feed said about an item, used to fill gaps extraction leaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeedHints {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
    pub language: Option<String>,
}

/// Output of the extract stage: the article text and its metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    pub title: Option<String>,
    /// Article body, paragraphs separated by one blank line.
    pub text: String,
    pub canonical_url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub byline: Option<String>,
    pub language: Option<String>,
    /// The page's own description (og:description / meta description).
    pub description: Option<String>,
    /// The text was cut to the configured maximum ([`cap_text`]).
    #[serde(default)]
    pub truncated: bool,
}

/// How a duplicate was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DupMethod {
    /// Same canonical URL.
    Url,
    /// Same feed guid.
    Guid,
    /// Same normalized text.
    Hash,
    /// Near-duplicate: resemblance or containment above the threshold.
    Near,
}

/// The dedup stage's verdict on one article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    /// A seed id (file stem) or an earlier record's id: the root of the
    /// copies, never a copy itself.
    pub duplicate_of: String,
    /// The copy of `duplicate_of` the article was found to copy, when that
    /// is not `duplicate_of` itself.
    #[serde(default)]
    pub via: Option<String>,
    /// 0..1, to the copy found (`via`, else `duplicate_of`); 1.0 for exact
    /// duplicates.
    pub similarity: f64,
    pub method: DupMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Person,
    State,
    Organisation,
}

/// A topic the article discusses, with the sentences that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicTag {
    pub id: String,
    pub label: String,
    /// 0..1.
    pub score: f64,
    pub evidence: Vec<String>,
}

/// A person, state or organisation named in the article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorTag {
    pub id: String,
    /// Canonical name from the taxonomy.
    pub name: String,
    pub kind: ActorKind,
    pub mentions: u32,
    /// The distinct spellings found in the text, as written.
    pub spellings: Vec<String>,
}

/// Output of the tag stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    pub relevant: bool,
    /// 0..1.
    pub relevance: f64,
    pub topics: Vec<TopicTag>,
    pub actors: Vec<ActorTag>,
    /// Which taxonomy found these tags (`tag::Taxonomy::version`).
    pub taxonomy_version: String,
}

/// A document once its text is extracted: everything its record will say
/// but the dedup verdict and the tags, which the later stages find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub url: Option<String>,
    pub canonical_url: Option<String>,
    pub guid: Option<String>,
    pub title: String,
    pub text: String,
    pub summary: Option<String>,
    pub authors: Vec<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub origin: Origin,
    pub language: Option<String>,
    pub word_count: usize,
    pub content_hash: String,
    pub truncated: bool,
}

/// A normalized record, one per article, as the sinks write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub schema_version: u32,
    pub url: Option<String>,
    pub canonical_url: Option<String>,
    pub guid: Option<String>,
    pub title: String,
    pub text: String,
    pub summary: Option<String>,
    pub authors: Vec<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub source: Origin,
    pub language: Option<String>,
    pub word_count: usize,
    pub content_hash: String,
    /// 1 for the first record of an article; 2, 3, ... when its page
    /// changed and was written again under the same id (`[dedup] updates`).
    #[serde(default = "first_version")]
    pub version: u32,
    /// When this version was seen; `None` for the first.
    #[serde(default)]
    pub updated_at: Option<String>,
    pub duplicate_of: Option<String>,
    /// The copy of `duplicate_of` this one copies, when not the root itself.
    #[serde(default)]
    pub duplicate_via: Option<String>,
    pub similarity: Option<f64>,
    pub duplicate_method: Option<DupMethod>,
    /// The story the record reports (`story::Stories`): the id of the first
    /// record of the same event, other outlets' reports share it. Missing in
    /// records written before records carried it.
    #[serde(default)]
    pub story_id: Option<String>,
    pub relevant: bool,
    pub relevance: f64,
    pub topics: Vec<TopicTag>,
    pub actors: Vec<ActorTag>,
    /// The taxonomy that tagged the record. Empty in records written before
    /// records carried it (`tidings retag` fills it in).
    #[serde(default)]
    pub taxonomy_version: String,
    /// The text was cut to `[extract] max_text_kib`.
    #[serde(default)]
    pub truncated: bool,
}

/// Cuts `text` to at most `max` bytes, at the last paragraph break when that
/// keeps most of it, else at a sentence end, else between words; returns
/// whether anything was cut.
pub fn cap_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let keeps_most = |at: usize| at >= end / 2;
    let cut = head
        .rfind("\n\n")
        .filter(|&at| keeps_most(at))
        .or_else(|| {
            head.rfind(". ")
                .map(|at| at + 1)
                .filter(|&at| keeps_most(at))
        })
        .or_else(|| head.rfind(char::is_whitespace).filter(|&at| keeps_most(at)))
        .unwrap_or(end);
    text.truncate(cut);
    let kept = text.trim_end().len();
    text.truncate(kept);
    true
}

/// RFC 3339 in UTC with second precision, the one timestamp format of records.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Text folded for hashing: case, Unicode compatibility forms and whitespace
/// differences do not make two texts different.
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

fn sha256_hex(bytes: &[u8], len: usize) -> String {
    let digest = Sha256::digest(bytes);
    digest
        .iter()
        .take(len / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hash of the normalized text: equal for texts that differ only in case,
/// punctuation or spacing.
pub fn content_hash(text: &str) -> String {
    sha256_hex(normalize_text(text).as_bytes(), 32)
}

/// The record id: stable across runs and restarts. It hashes the canonical URL
/// when there is one (so a re-fetched page overwrites, never duplicates), else
/// the normalized title and text.
pub fn record_id(canonical_url: Option<&str>, title: &str, text: &str) -> String {
    match canonical_url {
        Some(url) => {
            // Tracking parameters, fragments and host spellings do not make
            // another article.
            let url = crate::url::canonicalize(url).unwrap_or_else(|| url.to_string());
            sha256_hex(format!("url\0{url}").as_bytes(), 24)
        }
        None => {
            let key = format!("text\0{}\0{}", normalize_text(title), normalize_text(text));
            sha256_hex(key.as_bytes(), 24)
        }
    }
}

/// Whether `line` is a record as tidings writes them (a JSON object with a
/// string `id` and `text`): how a file of records handed over as documents is
/// recognised.
pub fn is_record_line(line: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "id")]
        _id: String,
        #[serde(rename = "text")]
        _text: String,
    }
    let line = line.trim();
    line.starts_with('{') && serde_json::from_str::<Probe>(line).is_ok()
}

/// The text without NUL characters. Pages and feeds carry them (raw, or as
/// `\u0000` in JSON-LD and JSON Feed); they mean nothing in an article, and
/// sinks choke on them (PostgreSQL refuses NUL in text).
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

fn opt_without_nul(text: Option<String>) -> Option<String> {
    text.map(without_nul)
}

impl Extracted {
    /// Every field without NUL characters.
    pub fn without_nul(self) -> Extracted {
        Extracted {
            title: opt_without_nul(self.title),
            text: without_nul(self.text),
            canonical_url: opt_without_nul(self.canonical_url),
            published_at: self.published_at,
            byline: opt_without_nul(self.byline),
            language: opt_without_nul(self.language),
            description: opt_without_nul(self.description),
            truncated: self.truncated,
        }
    }
}

impl FeedHints {
    /// Every field without NUL characters.
    pub fn without_nul(self) -> FeedHints {
        FeedHints {
            title: opt_without_nul(self.title),
            summary: opt_without_nul(self.summary),
            published_at: self.published_at,
            authors: self.authors.into_iter().map(without_nul).collect(),
            language: opt_without_nul(self.language),
        }
    }
}

impl Article {
    /// The article of an extracted document, with the hints its feed gave
    /// for what extraction did not find. No field holds a NUL, and no URL a
    /// secret: the id hashes the canonical URL without its secrets, so it
    /// stays the same when a link's token changes.
    pub fn new(
        origin: Origin,
        url: Option<String>,
        guid: Option<String>,
        fetched_at: DateTime<Utc>,
        hints: FeedHints,
        extracted: Extracted,
    ) -> Article {
        let ex = extracted.without_nul();
        let hints = hints.without_nul();
        let mut origin = origin;
        origin.location = without_nul(origin.location);
        if origin.kind == OriginKind::Feed {
            origin.location = redact::url(&origin.location);
        }
        origin.name = opt_without_nul(origin.name);
        origin.tags = origin.tags.into_iter().map(without_nul).collect();
        let shown = |u: Option<String>| opt_without_nul(u).map(|u| redact::url(&u));
        let url = shown(url);
        let guid = opt_without_nul(guid).map(|g| redact::text(&g));
        let title = ex.title.or(hints.title).unwrap_or_default();
        let canonical_url = shown(ex.canonical_url).or_else(|| url.clone());
        let authors = match ex.byline {
            Some(b) => vec![b],
            None => hints.authors,
        };
        Article {
            id: record_id(canonical_url.as_deref(), &title, &ex.text),
            url,
            canonical_url,
            guid,
            summary: ex.description.or(hints.summary),
            authors,
            published_at: ex.published_at.or(hints.published_at).map(timestamp),
            fetched_at: timestamp(fetched_at),
            origin,
            // Settled at extraction, the feed's declaration included.
            language: ex.language,
            word_count: ex.text.split_whitespace().count(),
            content_hash: content_hash(&ex.text),
            truncated: ex.truncated,
            title,
            text: ex.text,
        }
    }
}

fn first_version() -> u32 {
    1
}

impl Record {
    /// The record of an article, with its verdict and its tags.
    pub fn new(article: Article, duplicate: Option<Duplicate>, tags: Tags) -> Record {
        Record {
            id: article.id,
            schema_version: SCHEMA_VERSION,
            url: article.url,
            canonical_url: article.canonical_url,
            guid: article.guid,
            title: article.title,
            text: article.text,
            summary: article.summary,
            authors: article.authors,
            published_at: article.published_at,
            fetched_at: article.fetched_at,
            source: article.origin,
            language: article.language,
            word_count: article.word_count,
            content_hash: article.content_hash,
            // A later version is numbered by the sink stage (see
            // `pipeline::dedup::Revision`).
            version: 1,
            updated_at: None,
            duplicate_of: duplicate.as_ref().map(|d| d.duplicate_of.clone()),
            duplicate_via: duplicate.as_ref().and_then(|d| d.via.clone()),
            similarity: duplicate.as_ref().map(|d| d.similarity),
            duplicate_method: duplicate.map(|d| d.method),
            // Placed in the sink stage, which sees every record in order.
            story_id: None,
            relevant: tags.relevant,
            relevance: tags.relevance,
            topics: tags.topics,
            actors: tags.actors,
            taxonomy_version: tags.taxonomy_version,
            truncated: article.truncated,
        }
    }

    /// The record's tags.
    pub fn tags(&self) -> Tags {
        Tags {
            relevant: self.relevant,
            relevance: self.relevance,
            topics: self.topics.clone(),
            actors: self.actors.clone(),
            taxonomy_version: self.taxonomy_version.clone(),
        }
    }

    /// Gives the record new tags (a re-tagging); everything else stays.
    /// Whether any tag changed.
    pub fn retag(&mut self, tags: Tags) -> bool {
        let changed = self.tags() != tags;
        let Tags {
            relevant,
            relevance,
            topics,
            actors,
            taxonomy_version,
        } = tags;
        self.relevant = relevant;
        self.relevance = relevance;
        self.topics = topics;
        self.actors = actors;
        self.taxonomy_version = taxonomy_version;
        changed
    }

    /// The dedup verdict the record carries.
    pub fn duplicate(&self) -> Option<Duplicate> {
        Some(Duplicate {
            duplicate_of: self.duplicate_of.clone()?,
            via: self.duplicate_via.clone(),
            similarity: self.similarity.unwrap_or(1.0),
            method: self.duplicate_method?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_canonical_url_not_tracking_noise() {
        let a = record_id(
            Some("https://news.example/a/1?utm_source=x#top"),
            "T",
            "body one",
        );
        let b = record_id(Some("https://News.Example/a/1"), "Other title", "body two");
        assert_eq!(
            a, b,
            "same article under tracking params, fragment and host case"
        );
        assert_ne!(
            a,
            record_id(Some("https://news.example/a/2"), "T", "body one")
        );
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn id_without_url_follows_the_normalized_content() {
        let a = record_id(None, "Talks resume", "Envoys met on Monday.");
        assert_eq!(a, record_id(None, "talks  resume", "ENVOYS met, on Monday"));
        assert_ne!(a, record_id(None, "Talks resume", "Envoys met on Tuesday."));
        assert_ne!(a, record_id(None, "Talks stall", "Envoys met on Monday."));
    }

    #[test]
    fn no_field_of_a_record_holds_a_nul() {
        let article = Article::new(
            Origin {
                kind: OriginKind::Feed,
                location: "https://wire.example/feed\0".into(),
                name: Some("Wire\0".into()),
                tags: vec!["a\0b".into()],
            },
            Some("https://wire.example/a\0".into()),
            Some("g\0".into()),
            Utc::now(),
            FeedHints {
                title: Some("Hint\0".into()),
                summary: Some("Sum\0mary".into()),
                published_at: None,
                authors: vec!["Ann\0".into()],
                language: Some("en\0".into()),
            },
            Extracted {
                text: "Envoys\0 met.".into(),
                ..Extracted::default()
            },
        );
        let record = Record::new(article, None, Tags::default());
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("\\u0000"), "{json}");
        assert_eq!(record.text, "Envoys met.");
        assert_eq!(record.title, "Hint");
        assert_eq!(record.authors, ["Ann"]);
    }

    fn feed_article(page: &str) -> Record {
        let article = Article::new(
            Origin {
                kind: OriginKind::Feed,
                location: "https://reader:pa55@wire.example/feed?api_key=K3Y".into(),
                name: None,
                tags: Vec::new(),
            },
            Some(page.into()),
            Some(page.into()),
            Utc::now(),
            FeedHints::default(),
            Extracted {
                text: "Envoys met.".into(),
                ..Extracted::default()
            },
        );
        Record::new(article, None, Tags::default())
    }

    #[test]
    fn no_url_of_a_record_holds_a_secret_and_the_id_ignores_them() {
        let record = feed_article("https://wire.example/a/1?token=T0K&p=2");
        let json = serde_json::to_string(&record).unwrap();
        for secret in ["pa55", "K3Y", "T0K"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        assert_eq!(
            record.source.location,
            "https://reader:***@wire.example/feed?api_key=***"
        );
        assert_eq!(
            record.url.as_deref(),
            Some("https://wire.example/a/1?token=***&p=2")
        );
        assert_eq!(record.guid, record.url);
        let other_token = feed_article("https://wire.example/a/1?token=NEW&p=2");
        assert_eq!(
            record.id, other_token.id,
            "a rotated token is the same article"
        );
        let other_page = feed_article("https://wire.example/a/1?token=T0K&p=3");
        assert_ne!(record.id, other_page.id);
    }

    #[test]
    fn long_text_is_cut_at_a_paragraph_then_a_sentence_then_a_word() {
        let para = "Envoys met again. ".repeat(10);
        let mut text = format!("{para}\n\n{para}\n\n{para}");
        assert!(cap_text(&mut text, para.len() * 2 + 10));
        assert_eq!(text, format!("{para}\n\n{para}").trim_end());

        let mut one = "Envoys met again. ".repeat(50);
        assert!(cap_text(&mut one, 100));
        assert!(one.len() <= 100 && one.ends_with("again."), "{one}");

        let mut words = "слово ".repeat(100);
        assert!(cap_text(&mut words, 101));
        assert!(words.len() <= 101 && words.ends_with("слово"), "{words}");

        let mut short = "short".to_string();
        assert!(!cap_text(&mut short, 100));
        assert_eq!(short, "short");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+02:00").unwrap();
        assert_eq!(timestamp(t.with_timezone(&Utc)), "2026-11-24T08:00:00Z");
    }
}
