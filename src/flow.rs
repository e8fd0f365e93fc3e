//! What a source hands the pipeline, and what the pipeline tells it back.
//!
//! A [`Source`] (the configured feeds, local files, or anything else that
//! finds documents) sends [`Document`]s, each with an [`Ack`]: its own
//! callback, called once with the document's [`Outcome`] when the document
//! leaves the pipeline. The pipeline knows nothing else of sources, so a new
//! one (a sitemap, a folder watch) is one module that implements [`Source`].

use std::sync::Arc;

use async_channel::Sender;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::extract::{self, ExtractError};
use crate::observe::Counters;
use crate::record::{Extracted, FeedHints, Origin};
use crate::state::Store;

/// The raw body of a document as the source found it.
#[derive(Debug, Clone)]
pub enum Body {
    /// An HTML page: raw bytes plus the `Content-Type` header, if any, for
    /// charset detection.
    Html {
        bytes: Vec<u8>,
        content_type: Option<String>,
    },
    /// A plain-text document: first non-empty line(s) hold the headline.
    Text(String),
    /// Full text from a feed item (already decoded; may be HTML markup).
    FeedContent(String),
}

impl Body {
    /// The article text and metadata of this body; `url` is the page's,
    /// `declared` the language its feed declares. The language is settled
    /// here for every kind of body (see [`extract::language::settle`]): a
    /// page's own declaration first, then the feed's, checked against the
    /// text; the text's own language when none holds.
    pub fn extract(
        &self,
        url: Option<&str>,
        declared: Option<&str>,
        opts: &extract::Options,
    ) -> Result<Extracted, ExtractError> {
        let mut ex = self.extract_text(url, opts)?;
        // A page's language is settled already, unless its text was too short.
        if ex.language.is_none() {
            ex.language = extract::language::settle(declared, &ex.text);
        }
        Ok(ex)
    }

    fn extract_text(
        &self,
        url: Option<&str>,
        opts: &extract::Options,
    ) -> Result<Extracted, ExtractError> {
        match self {
            Body::Html {
                bytes,
                content_type,
            } => extract::extract(bytes, content_type.as_deref(), url, opts),
            Body::Text(text) => extract::from_text(text),
            Body::FeedContent(html) => {
                let text = extract::fragment_text(html);
                if text.trim().is_empty() {
                    return Err(ExtractError::NoText);
                }
                Ok(Extracted {
                    text,
                    ..Extracted::default()
                })
            }
        }
    }
}

/// One document on its way from a source into the pipeline.
#[derive(Debug)]
pub struct Document {
    pub origin: Origin,
    /// The item's link / the page URL, when known.
    pub url: Option<String>,
    /// Feed guid: the item's identity at its source.
    pub guid: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub body: Body,
    pub hints: FeedHints,
    pub ack: Ack,
}

impl Document {
    /// The URL or path that names the document in a log line.
    pub fn describe(&self) -> &str {
        self.url.as_deref().unwrap_or(&self.origin.location)
    }
}

/// How a document left the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its record is in every sink of the run (written now or before).
    Written { record: String },
    /// It left without a record, for good: a duplicate, no article text.
    Skipped,
    /// Handed to another process of the cluster, durably (a JetStream
    /// stream), with the id of its record when it got that far: done here.
    Handed { record: Option<String> },
}

/// A source's callback for one document. Called once, when the document
/// leaves the pipeline; an `Ack` dropped without being called (a run that
/// stops) means "not done": the source offers the document again next time.
pub struct Ack(Option<Box<dyn FnOnce(Outcome) + Send>>);

impl Ack {
    pub fn new(callback: impl FnOnce(Outcome) + Send + 'static) -> Ack {
        Ack(Some(Box::new(callback)))
    }

    /// For a source that needs no news of its documents.
    pub fn none() -> Ack {
        Ack(None)
    }

    pub fn done(mut self, outcome: Outcome) {
        if let Some(callback) = self.0.take() {
            callback(outcome);
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Ack" } else { "Ack(none)" })
    }
}

/// What a source gets to work with.
pub struct SourceContext {
    /// Where documents go; closed when the pipeline stops taking them.
    pub tx: Sender<Document>,
    /// The state store, whose sinks are the run's.
    pub store: Store,
    pub counters: Arc<Counters>,
    /// Cancelled when the run is to stop: send nothing more.
    pub shutdown: CancellationToken,
}

/// Where documents come from.
pub trait Source: Send {
    /// Sends documents until there are no more, the run stops or the
    /// receiver is gone; `Err` only when the source cannot go on.
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, anyhow::Result<()>>;
}
