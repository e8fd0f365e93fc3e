//! The cluster's two JetStream streams, both work queues (a message is gone
//! once acknowledged):
//!
//! - `<NAME>_PAGES`, subjects `<name>.pages.<partition>`: pages to fetch,
//!   from the process that polled the feed to the one that leases the
//!   page's host; one durable consumer per partition, read by its holder.
//! - `<NAME>_HANDOFF`, subject `<name>.handoff`: extracted, tagged articles
//!   on their way to the writer; one durable consumer, `writer`.
//!
//! Each message carries an id (`Nats-Msg-Id`: the item and its date, or the
//! record and its text's hash), so a process that publishes again after a
//! crash adds nothing within the duplicate window, while a later version of
//! a page goes through.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, RetentionPolicy};
use async_nats::jetstream::{self, Context as JetStream};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::Cluster;
use crate::dedup::Fingerprint;
use crate::fetch::share::PageJob;
use crate::pipeline::{Handoff, Parsed, Sent};
use crate::record::{Article, Tags};

/// Long enough to cover a process that publishes, dies, and has its work
/// done again by another once its leases and messages expire.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

/// Bound on one request to the server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed publish is tried again after this long (the client reconnects
/// by itself meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Messages a consumer hands out before their acknowledgements: bounds
/// what a process takes on at once.
const MAX_ACK_PENDING: i64 = 512;

/// What travels to the writer: the front half's [`Parsed`] without its
/// acknowledgement (the message's own stands in for it).
#[derive(Serialize, Deserialize)]
pub struct Handed {
    pub article: Article,
    pub fingerprint: Fingerprint,
    pub own_seed: Option<String>,
    pub tags: Option<Tags>,
}

#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: JetStream,
    name: String,
    ack_wait: Duration,
}

impl Bus {
    /// Connects and makes sure both streams exist.
    pub async fn open(cluster: &Cluster) -> anyhow::Result<Bus> {
        let client = crate::sink::connect_nats(&cluster.nats).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        let bus = Bus {
            client,
            js,
            name: cluster.name.clone(),
            ack_wait: cluster.ack_wait,
        };
        for (stream, subject) in [
            (bus.stream("PAGES"), format!("{}.pages.*", bus.name)),
            (bus.stream("HANDOFF"), bus.handoff_subject()),
        ] {
            bus.js
                .get_or_create_stream(stream::Config {
                    name: stream.clone(),
                    subjects: vec![subject],
                    retention: RetentionPolicy::WorkQueue,
                    duplicate_window: DUPLICATE_WINDOW,
                    num_replicas: cluster.replicas,
                    ..Default::default()
                })
                .await
                .with_context(|| format!("creating stream {stream}"))?;
        }
        Ok(bus)
    }

    /// Sends what the client holds (acknowledgements are buffered).
    pub async fn flush(&self) {
        if let Err(e) = self.client.flush().await {
            tracing::warn!("flushing acknowledgements to NATS: {e} (their work comes again)");
        }
    }

    fn stream(&self, what: &str) -> String {
        format!(
            "{}_{what}",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }

    fn handoff_subject(&self) -> String {
        format!("{}.handoff", self.name)
    }

    /// The consumer of one partition's pages.
    pub async fn pages(&self, part: u32) -> anyhow::Result<PullConsumer> {
        self.consumer(
            &self.stream("PAGES"),
            &format!("pages-{part}"),
            format!("{}.pages.{part}", self.name),
        )
        .await
    }

    /// The writer's consumer of the hand-off stream.
    pub async fn handoff(&self) -> anyhow::Result<PullConsumer> {
        self.consumer(&self.stream("HANDOFF"), "writer", self.handoff_subject())
            .await
    }

    async fn consumer(
        &self,
        stream: &str,
        name: &str,
        subject: String,
    ) -> anyhow::Result<PullConsumer> {
        let stream = self
            .js
            .get_stream(stream)
            .await
            .with_context(|| format!("opening stream {stream}"))?;
        stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_string()),
                    filter_subject: subject,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("opening consumer {name}"))
    }

    /// Publishes until the stream holds the message; `Refused` when it
    /// never will (larger than the server takes).
    async fn publish(&self, subject: String, id: String, payload: Vec<u8>) -> anyhow::Result<Sent> {
        let mut warned = false;
        loop {
            let message = PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(id.as_str());
            let acked = match self.js.send_publish(subject.clone(), message).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(_) => return Ok(Sent::Held),
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Ok(Sent::Refused(e.to_string()));
                }
                Err(e) => {
                    if !warned {
                        tracing::warn!(
                            subject,
                            "publishing to the cluster's stream: {e}; retrying"
                        );
                        warned = true;
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    /// Hands a page to the process that leases its host.
    pub fn send_page(&self, part: u32, job: PageJob) -> BoxFuture<'static, anyhow::Result<()>> {
        let bus = self.clone();
        Box::pin(async move {
            // The entry's date and digest are part of it: an item dated
            // later, or changed, is a new version of its page, not a repeat.
            let dated = job.dated.map(|d| d.timestamp()).unwrap_or_default();
            let digest = job.digest.as_deref().unwrap_or_default();
            let id = format!("page {} {} {dated} {digest}", job.feed, job.guid);
            let payload = serde_json::to_vec(&job).context("encoding a page job")?;
            let subject = format!("{}.pages.{part}", bus.name);
            match bus.publish(subject, id, payload).await? {
                Sent::Held => Ok(()),
                Sent::Refused(why) => anyhow::bail!("the pages stream refuses a job: {why}"),
            }
        })
    }
}

impl Handoff for Bus {
    fn send(&self, parsed: &Parsed) -> BoxFuture<'static, anyhow::Result<Sent>> {
        let handed = Handed {
            article: parsed.article.clone(),
            fingerprint: parsed.fingerprint.clone(),
            own_seed: parsed.own_seed.clone(),
            tags: parsed.tags.clone(),
        };
        let bus = self.clone();
        Box::pin(async move {
            let payload = serde_json::to_vec(&handed).context("encoding an article")?;
            // The text's hash is part of it: a later version of a record
            // is not a repeat of the first.
            let article = &handed.article;
            let id = format!("record {} {}", article.id, article.content_hash);
            bus.publish(bus.handoff_subject(), id, payload).await
        })
    }
}

/// Acknowledgements on their way to the server. A process that stops waits
/// for them ([`Acks::drained`]), so that work it finished is not delivered
/// again to the next process.
#[derive(Clone)]
pub struct Acks {
    runtime: tokio::runtime::Handle,
    /// Each acknowledgement in flight holds a clone; the receiver learns
    /// when the last is gone.
    open: tokio::sync::mpsc::Sender<()>,
}

impl Acks {
    pub fn new() -> (Acks, tokio::sync::mpsc::Receiver<()>) {
        let (open, done) = tokio::sync::mpsc::channel(1);
        let runtime = tokio::runtime::Handle::current();
        (Acks { runtime, open }, done)
    }

    /// Acknowledges a message, from any thread.
    pub fn ack(&self, acker: async_nats::jetstream::message::Acker, what: &'static str) {
        let open = self.open.clone();
        self.runtime.spawn(async move {
            if let Err(e) = acker.ack().await {
                tracing::warn!("acknowledging {what}: {e} (it comes again)");
            }
            drop(open);
        });
    }

    /// Once every clone of `acks` is gone: every acknowledgement handed to
    /// the client.
    pub async fn drained(mut done: tokio::sync::mpsc::Receiver<()>) {
        while done.recv().await.is_some() {}
    }
}
