//! The NATS JetStream sink: one message per record, JSON, on one subject.
//!
//! Each message carries the record id as `Nats-Msg-Id`, so JetStream drops a
//! record it already stored within the stream's duplicate window; a batch is
//! acknowledged only once the stream acknowledged every message. A later
//! version of a record (a page that changed) carries `<id>@<version>`, so it
//! is not dropped as a repeat of the first. When no
//! stream takes the subject, one is created with a day-long duplicate window.
//!
//! The client reconnects by itself; on top of that a failed batch is
//! published again whole, with backoff, until it is acknowledged. Dropping
//! the future of [`NatsSink::write`] is safe: the batch counts as not
//! acknowledged, and messages that got through are dropped as repeats when
//! it comes again (within the duplicate window).

use std::time::Duration;

use async_nats::jetstream::context::{
    CreateStreamErrorKind, GetStreamByNameErrorKind, PublishErrorKind,
};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, Event, Subject};

use super::Place;
use super::retry::{Retry, Unreachable};
use crate::record::Record;
use crate::redact;
use crate::settings::{Dirs, Section};

/// How long JetStream remembers message ids. Long enough to cover a restart
/// after a crash, which sends the unacknowledged records again; a `tidings
/// replay` later than this stores its records a second time.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Bound on API requests and publish acknowledgements. Past it the batch is
/// published again, so a slow ack costs a repeat (dropped by the server), not
/// a lost record.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages awaiting their acknowledgement at once: enough to keep the
/// connection busy, and below the client's cap on pending acks (5000).
const IN_FLIGHT: usize = 256;

/// JetStream's limit on stream name length.
const MAX_STREAM_NAME: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("{0}")]
    Config(String),
    /// The client library's messages already name their cause, so it is
    /// kept in the message rather than as a source.
    #[error("stream {stream}: {message}")]
    Stream {
        stream: String,
        message: String,
        transient: bool,
    },
    #[error("stream {stream} does not take subject {subject}{}", .taken_by.as_ref().map(|s| format!(" (stream {s} does)")).unwrap_or_default())]
    SubjectNotInStream {
        stream: String,
        subject: String,
        taken_by: Option<String>,
    },
    #[error("encoding record {id} as JSON")]
    Encode {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
    #[error("publishing record {id} to {subject}: {message}")]
    Publish {
        id: String,
        subject: String,
        message: String,
        kind: PublishErrorKind,
    },
}

impl NatsError {
    /// Whether waiting and publishing again can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            NatsError::Stream { transient, .. } => *transient,
            NatsError::Publish { kind, .. } => matches!(
                kind,
                PublishErrorKind::TimedOut
                    | PublishErrorKind::BrokenPipe
                    | PublishErrorKind::MaxAckPending
                    // No stream answered: the server is still recovering its
                    // streams, or the stream was deleted and is created again.
                    | PublishErrorKind::StreamNotFound
            ),
            NatsError::Config(_)
            | NatsError::Unreachable(_)
            | NatsError::SubjectNotInStream { .. }
            | NatsError::Encode { .. } => false,
        }
    }

    /// The error is about one record, which the stream will never take (too
    /// large for the server's max_payload), not about the sink.
    pub fn rejects_record(&self) -> bool {
        matches!(
            self,
            NatsError::Encode { .. }
                | NatsError::Publish {
                    kind: PublishErrorKind::MaxPayloadExceeded,
                    ..
                }
        )
    }
}

/// A client of the servers in `url` (credentials as userinfo: `user:pass@`
/// or `token@`). It connects in the background and reconnects by itself,
/// logging each change; the first request waits for it.
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let target = redact::url(url);
    let events_target = target.clone();
    let (servers, credentials) = split_credentials(url);
    let options = match credentials {
        Some(Credentials::UserPassword(user, pass)) => {
            ConnectOptions::with_user_and_password(user, pass)
        }
        Some(Credentials::Token(token)) => ConnectOptions::with_token(token),
        None => ConnectOptions::new(),
    };
    options
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let target = events_target.clone();
            async move {
                match event {
                    Event::Connected => tracing::info!(server = %target, "nats connected"),
                    Event::Disconnected => {
                        tracing::warn!(server = %target, "nats disconnected, reconnecting")
                    }
                    other => tracing::debug!(server = %target, event = %other, "nats event"),
                }
            }
        })
        .connect(servers)
        .await
        .map_err(|e| NatsError::Config(format!("{target}: {e}")))
}

/// Problems with a nats sink's settings, one message each, for `tidings
/// check`. Empty when the settings are usable.
pub fn validate_nats(url: &str, subject: &str, stream: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    // The client accepts a comma-separated list of servers of one cluster.
    for server in url.split(',').map(str::trim) {
        match url::Url::parse(server) {
            Err(e) => problems.push(format!(
                "{:?} is not a URL ({e}); expected nats://host:port",
                redact::url(server)
            )),
            Ok(u) if !matches!(u.scheme(), "nats" | "tls") => problems.push(format!(
                "URL scheme {:?} is not nats:// or tls://",
                u.scheme()
            )),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                problems.push(format!("{:?} names no host", redact::url(server)))
            }
            Ok(_) => {}
        }
    }
    if let Err(problem) = check_subject(subject) {
        problems.push(problem);
    }
    if let Some(Err(problem)) = stream.map(check_stream_name) {
        problems.push(problem);
    }
    problems
}

fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        Err("the subject is empty".to_string())
    } else if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("subject {subject:?} contains whitespace"))
    } else if subject.split('.').any(|token| token == "*" || token == ">") {
        Err(format!(
            "subject {subject:?} has a wildcard; records are published to one concrete subject"
        ))
    } else if subject.split('.').any(str::is_empty) {
        Err(format!(
            "subject {subject:?} has an empty token (a leading, trailing or double dot)"
        ))
    } else {
        Ok(())
    }
}

fn check_stream_name(stream: &str) -> Result<(), String> {
    if stream.is_empty() {
        Err("the stream name is empty".to_string())
    } else if stream
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        Err(format!(
            "stream name {stream:?} may not contain whitespace, '.', '*', '>', '/' or '\\'"
        ))
    } else if stream.len() > MAX_STREAM_NAME {
        Err(format!(
            "stream name {stream:?} is longer than {MAX_STREAM_NAME} bytes"
        ))
    } else {
        Ok(())
    }
}

/// The stream created for a subject when none is configured: its name,
/// with the characters stream names may not contain replaced.
fn stream_for(subject: &str) -> String {
    subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The server list as the client gets it, without userinfo, and the
/// credentials that were in it. The client would neither use them (it takes
/// credentials from its options only) nor keep them out of its debug logs,
/// which print each server address whole.
fn split_credentials(url: &str) -> (String, Option<Credentials>) {
    let mut found = None;
    let servers: Vec<String> = url
        .split(',')
        .map(|server| match url::Url::parse(server.trim()) {
            Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
                let user = percent_decoded(u.username());
                found.get_or_insert(match u.password() {
                    Some(pass) => Credentials::UserPassword(user, percent_decoded(pass)),
                    None => Credentials::Token(user),
                });
                // Only fails for URLs that cannot have userinfo at all.
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            }
            _ => server.trim().to_string(),
        })
        .collect();
    (servers.join(","), found)
}

/// How the URL says to log in: `nats://user:password@host` or
/// `nats://token@host`, as the NATS tools read them.
enum Credentials {
    UserPassword(String, String),
    Token(String),
}

/// Userinfo as the URL holds it (`%40` for `@`) back to its characters.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `kind = "nats"`: `url` (servers, comma-separated), `subject`, and
/// `stream` (default: the one that takes the subject, created when missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
    pub subject: String,
    pub stream: Option<String>,
}

impl Config {
    pub fn new(url: &str, subject: &str, stream: Option<&str>) -> Config {
        Config {
            url: url.to_string(),
            subject: subject.to_string(),
            stream: stream.map(str::to_string),
        }
    }

    pub fn read(s: &mut Section<'_>, _dirs: &Dirs) -> Option<Config> {
        let url = s.required_str("url");
        let subject = s.required_str("subject");
        let stream = s.str("stream");
        let (url, subject) = (url?, subject?);
        let problems = validate_nats(url, subject, stream);
        for p in &problems {
            s.problem("", p.clone());
        }
        problems
            .is_empty()
            .then(|| Config::new(url, subject, stream))
    }

    /// The servers and subject: two sinks on one server and subject get
    /// every record twice from one run.
    pub fn place(&self) -> Place {
        Place::Subject {
            servers: self
                .url
                .split(',')
                .filter_map(|s| url::Url::parse(s.trim()).ok())
                .filter_map(|u| {
                    // nats:// is not a special scheme: Url keeps the host's case.
                    let host = u.host_str()?.to_ascii_lowercase();
                    Some((host, u.port().unwrap_or(4222)))
                })
                .collect(),
            subject: self.subject.clone(),
        }
    }
}

pub struct NatsSink {
    js: jetstream::Context,
    subject: Subject,
    /// The configured stream; `None` means the one that takes the subject.
    stream: Option<String>,
    target: String,
    /// The stream that takes the subject, once made sure of; cleared when a
    /// publish found no stream, so the next attempt makes sure again first.
    ready: Option<String>,
    /// How long to wait for a server that does not answer; `None`: for ever.
    patience: Option<Duration>,
}

impl NatsSink {
    /// Connects and makes sure a stream takes the subject, creating it when
    /// missing. A server that does not answer yet is waited for (with WARN
    /// logs), like in [`Self::write`]; settings that cannot work fail at once.
    pub async fn open(
        settings: &Config,
        patience: Option<Duration>,
    ) -> Result<NatsSink, NatsError> {
        let (url, subject, stream) = (
            settings.url.as_str(),
            settings.subject.as_str(),
            settings.stream.as_deref(),
        );
        let problems = validate_nats(url, subject, stream);
        if !problems.is_empty() {
            return Err(NatsError::Config(problems.join("; ")));
        }
        let target = redact::url(url);
        let client = connect(url).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client);
        let mut sink = NatsSink {
            js,
            subject: Subject::from(subject),
            stream: stream.map(str::to_string),
            target,
            ready: None,
            patience,
        };
        sink.with_retries(&[]).await?;
        Ok(sink)
    }

    pub fn name(&self) -> String {
        format!("nats:{} subject {}", self.target, self.subject)
    }

    /// The key of this sink in the state store: the server and subject.
    pub fn key(&self) -> String {
        format!("nats:{}/{}", self.target, self.subject)
    }

    /// The stream's last sequence: how far its log reaches.
    pub async fn position(&mut self) -> Result<Option<u64>, NatsError> {
        let name = self.stream_name().await?;
        let mut stream = self
            .js
            .get_stream(&name)
            .await
            .map_err(|e| stream_error(&name, &e, true))?;
        let info = stream
            .info()
            .await
            .map_err(|e| stream_error(&name, &e, true))?;
        Ok(Some(info.state.last_sequence))
    }

    /// The record ids (`Nats-Msg-Id`) of the messages after sequence `from`
    /// up to the stream's end at the time of the call, in chunks, each with
    /// the sequence it reaches. Reads headers only.
    pub async fn scan(
        &mut self,
        from: u64,
        chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        use async_nats::jetstream::consumer::{DeliverPolicy, pull};
        use futures::StreamExt;
        let end = self.position().await?.unwrap_or_default();
        if end <= from {
            return Ok(());
        }
        let name = self.stream_name().await?;
        let stream = self
            .js
            .get_stream(&name)
            .await
            .map_err(|e| stream_error(&name, &e, true))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: self.subject.to_string(),
                headers_only: true,
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| stream_error(&name, &e, true))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| stream_error(&name, &e, true))?;
        let mut ids = Vec::new();
        let mut at = from;
        while at < end {
            let message = tokio::time::timeout(REQUEST_TIMEOUT, messages.next())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "stream {name}: no message within {REQUEST_TIMEOUT:?} while reading it back"
                    )
                })?;
            let Some(message) = message else { break };
            let message = message.map_err(|e| stream_error(&name, &e, true))?;
            let info = message
                .info()
                .map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
            at = info.stream_sequence;
            if let Some(id) = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
                let id = id.as_str();
                ids.push(id.split_once('@').map_or(id, |(id, _)| id).to_string());
            }
            if ids.len() >= 10_000 {
                chunk(std::mem::take(&mut ids), at)?;
            }
        }
        chunk(ids, at.max(end))
    }

    async fn stream_name(&mut self) -> Result<String, NatsError> {
        if self.ready.is_none() {
            self.ready = Some(self.ensure_stream().await?);
        }
        Ok(self.ready.clone().unwrap_or_default())
    }

    /// Publishes every record and returns once the stream acknowledged each
    /// one (repeats it dropped count as acknowledged), with the highest
    /// sequence acknowledged.
    pub async fn write(&mut self, batch: &[&Record]) -> Result<Option<u64>, NatsError> {
        self.with_retries(batch).await.map(Some)
    }

    /// Runs [`Self::attempt`] until it succeeds or fails for good.
    async fn with_retries(&mut self, batch: &[&Record]) -> Result<u64, NatsError> {
        let mut retry = Retry::new(self.name(), self.patience);
        loop {
            match self.attempt(batch).await {
                Ok(sequence) => {
                    retry.succeeded();
                    return Ok(sequence);
                }
                Err(e) if e.is_transient() => {
                    if matches!(
                        e,
                        NatsError::Publish {
                            kind: PublishErrorKind::StreamNotFound,
                            ..
                        }
                    ) {
                        self.ready = None;
                    }
                    retry.failed(&e).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(&mut self, batch: &[&Record]) -> Result<u64, NatsError> {
        self.stream_name().await?;
        let mut last = 0;
        // Publish a window, then collect its acks: the messages travel
        // back to back instead of one round trip each.
        for window in batch.chunks(IN_FLIGHT) {
            let mut acks = Vec::with_capacity(window.len());
            for record in window {
                let id = record.id.as_str();
                let json = serde_json::to_vec(record).map_err(|source| NatsError::Encode {
                    id: id.to_string(),
                    source,
                })?;
                let message_id = match record.version {
                    1 => id.to_string(),
                    version => format!("{id}@{version}"),
                };
                let message = PublishMessage::build()
                    .payload(json.into())
                    .message_id(message_id);
                let ack = self
                    .js
                    .send_publish(self.subject.clone(), message)
                    .await
                    .map_err(|e| self.publish_error(id, &e, e.kind()))?;
                acks.push((id, ack));
            }
            for (id, ack) in acks {
                let ack = ack
                    .await
                    .map_err(|e| self.publish_error(id, &e, e.kind()))?;
                last = last.max(ack.sequence);
            }
        }
        Ok(last)
    }

    fn publish_error(
        &self,
        id: &str,
        err: &dyn std::fmt::Display,
        kind: PublishErrorKind,
    ) -> NatsError {
        NatsError::Publish {
            id: id.to_string(),
            subject: self.subject.to_string(),
            message: err.to_string(),
            kind,
        }
    }

    /// Makes sure a stream takes the subject; its name.
    async fn ensure_stream(&self) -> Result<String, NatsError> {
        let subject = self.subject.as_str();
        let name = match &self.stream {
            Some(name) => name.clone(),
            None => match self.js.stream_by_subject(subject).await {
                Ok(found) => {
                    tracing::debug!(stream = %found, subject, "publishing into an existing stream");
                    return Ok(found);
                }
                Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => stream_for(subject),
                Err(e) => {
                    return Err(stream_error(
                        &stream_for(subject),
                        &e,
                        by_name_transient(&e.kind()),
                    ));
                }
            },
        };
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![subject.to_string()],
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| stream_error(&name, &e, create_transient(&e.kind())))?;
        // An existing stream may have been set up for other subjects.
        match self.js.stream_by_subject(subject).await {
            Ok(found) if found == name => Ok(name),
            Ok(found) => Err(NatsError::SubjectNotInStream {
                stream: name,
                subject: subject.to_string(),
                taken_by: Some(found),
            }),
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => {
                Err(NatsError::SubjectNotInStream {
                    stream: name,
                    subject: subject.to_string(),
                    taken_by: None,
                })
            }
            Err(e) => Err(stream_error(&name, &e, by_name_transient(&e.kind()))),
        }
    }
}

fn stream_error(stream: &str, err: &dyn std::fmt::Display, transient: bool) -> NatsError {
    NatsError::Stream {
        stream: stream.to_string(),
        message: err.to_string(),
        transient,
    }
}

/// JetStream API errors (a name clash, a bad config) stay, except the
/// server's "temporarily unavailable" (5xx); no answer may be a server that
/// is starting or unreachable.
fn create_transient(kind: &CreateStreamErrorKind) -> bool {
    match kind {
        CreateStreamErrorKind::TimedOut
        | CreateStreamErrorKind::JetStreamUnavailable
        | CreateStreamErrorKind::Response => true,
        CreateStreamErrorKind::JetStream(e) => e.code() >= 500,
        _ => false,
    }
}

fn by_name_transient(kind: &GetStreamByNameErrorKind) -> bool {
    match kind {
        GetStreamByNameErrorKind::Request => true,
        GetStreamByNameErrorKind::JetStream(e) => e.code() >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_must_be_concrete() {
        assert_eq!(check_subject("news.records"), Ok(()));
        for bad in [
            "",
            "news records",
            "news.*",
            "news.>",
            ">",
            ".news",
            "news.",
            "a..b",
            "a\tb",
        ] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn derived_stream_names_are_valid() {
        assert_eq!(stream_for("news.records.v1"), "news_records_v1");
        assert_eq!(check_stream_name(&stream_for("news.ru-ua.records")), Ok(()));
    }

    #[test]
    fn credentials_go_to_the_options_not_to_the_client_addresses() {
        let (servers, credentials) =
            split_credentials("nats://bus:s3%40cret@a.local:4222, nats://b.local:4222");
        assert_eq!(servers, "nats://a.local:4222,nats://b.local:4222");
        assert!(
            matches!(credentials, Some(Credentials::UserPassword(u, p)) if u == "bus" && p == "s3@cret")
        );
        let (servers, credentials) = split_credentials("nats://T0KEN@a.local:4222");
        assert_eq!(servers, "nats://a.local:4222");
        assert!(matches!(credentials, Some(Credentials::Token(t)) if t == "T0KEN"));
        assert!(split_credentials("nats://a.local:4222").1.is_none());
    }

    #[test]
    fn invalid_urls_are_not_echoed_whole() {
        let problems = validate_nats("T0KEN@a.local:4222", "a.b", None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(!problems[0].contains("T0KEN"), "{problems:?}");
        assert!(problems[0].contains("a.local:4222"), "{problems:?}");
    }
}
