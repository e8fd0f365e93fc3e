//! The front half's last stage in a cluster: each extracted, tagged document
//! handed to the stream the writer reads, its source acknowledged once the
//! stream holds it.

use std::sync::Arc;

use async_channel::Receiver;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use super::extract::Parsed;
use crate::flow::Outcome;
use crate::observe::Counters;

/// Hand-offs awaiting their acknowledgement at once: a stream's publish
/// round trip would otherwise bound the stage to one document per trip.
const IN_FLIGHT: usize = 64;

/// How a hand-off ended.
#[derive(Debug)]
pub enum Sent {
    /// Durable where the writer reads it.
    Held,
    /// The stream will never take it (larger than the server accepts); why.
    Refused(String),
}

/// Where the front half sends what it extracted.
pub trait Handoff: Send + Sync + 'static {
    /// Sends one document on; resolves once it is durable, waiting out a
    /// server that is down. `Err` only when the stage cannot go on.
    fn send(&self, parsed: &Parsed) -> BoxFuture<'static, anyhow::Result<Sent>>;
}

pub async fn stage(
    rx: Receiver<Parsed>,
    handoff: Arc<dyn Handoff>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            Some((sent, parsed)) = pending.next(), if !pending.is_empty() => {
                finish(sent?, parsed, &counters);
            }
            next = rx.recv(), if open && pending.len() < IN_FLIGHT => match next {
                Ok(parsed) => {
                    let sending = handoff.send(&parsed);
                    pending.push(async move { (sending.await, parsed) });
                }
                Err(_) => open = false,
            },
        }
    }
    Ok(())
}

fn finish(sent: Sent, parsed: Parsed, counters: &Counters) {
    match sent {
        Sent::Held => {
            metrics::counter!("tidings_handed_total").increment(1);
            let record = Some(parsed.article.id);
            parsed.ack.done(Outcome::Handed { record });
        }
        Sent::Refused(why) => {
            tracing::error!(
                record = parsed.article.id,
                url = parsed.article.url,
                "the cluster's stream refuses the record, dropped: {why}"
            );
            counters.skip("handoff", "refused by the stream");
            parsed.ack.done(Outcome::Skipped);
        }
    }
}
