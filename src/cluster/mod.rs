//! Cluster mode: any number of `tidings run` processes with the same config
//! (`[cluster] nats`, `[state] url`) share one pipeline.
//!
//! ```text
//!            every process                          one process: the writer
//! feeds of its hosts --+
//!                      +--> extract + tag --> HANDOFF stream --> dedup --> sinks
//! PAGES stream --------+
//!   (pages of its hosts, listed by feeds polled elsewhere)
//! ```
//!
//! - Hosts hash into partitions, leased from PostgreSQL ([`leases`]): a
//!   process polls the feeds and fetches the pages of the hosts it leases,
//!   so per-host politeness holds across the cluster, and hands the pages of
//!   other hosts to their holder through the pages stream ([`bus`]).
//! - Extraction and tagging run where the page was fetched; the articles
//!   go to the writer through the hand-off stream ([`writer`]), which the
//!   state store's writer lock gives to one process at a time.
//! - Every hand-over is acknowledged only once the next step holds the work:
//!   a process killed at any moment leaves its feeds to expire to others and
//!   its messages to be delivered again; the state store and the streams'
//!   message ids keep a record from being written twice.

mod bus;
mod leases;
mod pages;
mod writer;

use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::{Cluster, Config};
use crate::fetch::feeds::FeedSource;
use crate::fetch::http;
use crate::fetch::share::{Hold, PageJob, Share};
use crate::flow::{Source, SourceContext};
use crate::observe::{Counters, Summary};
use crate::pipeline;
use crate::state::Store;

/// Runs this process as one of the cluster until `shutdown`: its share of
/// the feeds and pages, and the writer's part when it holds the lock.
pub async fn run(
    cfg: &Config,
    cluster: &Cluster,
    store: &Store,
    http: http::Client,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> anyhow::Result<Summary> {
    let pg = cfg
        .state
        .postgres
        .as_ref()
        .context("a cluster keeps its state in PostgreSQL: set [state] url")?;
    let bus = bus::Bus::open(cluster)
        .await
        .context("opening the cluster's streams")?;
    let lease_stop = CancellationToken::new();
    let (leases, keeper) = leases::keep(pg, cluster, cfg.http.timeout, lease_stop.clone())
        .await
        .context("opening the cluster's lease table")?;
    tracing::info!(
        node = cluster.node,
        partitions = cluster.partitions,
        "joined the cluster"
    );
    let writer = tokio::spawn(writer::run(
        cfg.clone(),
        bus.clone(),
        cluster.lease / 4,
        shutdown.clone(),
        counters.clone(),
    ));
    let http = Arc::new(http);
    let share = Arc::new(Shared {
        leases: leases.clone(),
        bus: bus.clone(),
        recheck: cluster.lease / 4,
    });
    let feeds = FeedSource {
        feeds: cfg.feeds.clone(),
        poll: cfg.poll.clone(),
        http: http.clone(),
        once: false,
        sequential: false,
        share: Some(share),
    };
    let (acks, acked) = bus::Acks::new();
    let pages = pages::PageSource {
        bus: bus.clone(),
        acks,
        leases,
        http,
    };
    let source = Box::new(Both(Box::new(feeds), Box::new(pages)));
    let front = pipeline::run_front(
        cfg,
        store,
        source,
        Arc::new(bus.clone()),
        shutdown.clone(),
        counters,
    )
    .await;
    // The items' statuses are stored (the store runs its queue in order),
    // then their jobs acknowledged: a restart fetches none of them again.
    store.call(|_| Ok(())).await?;
    bus::Acks::drained(acked).await;
    bus.flush().await;
    // The front half has drained: no request is in flight, the leases can
    // go to the others at once.
    lease_stop.cancel();
    let _ = keeper.await;
    writer.await.context("the writer panicked")?;
    front
}

/// The hosts this process leases, as the feed source asks about them.
struct Shared {
    leases: leases::Leases,
    bus: bus::Bus,
    /// How often a feed waiting for its host looks again, changes or not.
    recheck: std::time::Duration,
}

impl Share for Shared {
    fn hold(&self, url: &url::Url) -> Option<Hold> {
        self.leases.hold(url.host_str()?)
    }

    fn changed(&self) -> BoxFuture<'static, ()> {
        let mut watch = self.leases.watch();
        let recheck = self.recheck;
        Box::pin(async move {
            let _ = tokio::time::timeout(recheck, watch.changed()).await;
        })
    }

    fn hand_off(&self, job: PageJob) -> BoxFuture<'static, anyhow::Result<()>> {
        let host = url::Url::parse(&job.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        self.bus.send_page(self.leases.partition(&host), job)
    }
}

/// Two sources into one pipeline.
struct Both(Box<dyn Source>, Box<dyn Source>);

impl Source for Both {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        let second = SourceContext {
            tx: ctx.tx.clone(),
            store: ctx.store.clone(),
            counters: ctx.counters.clone(),
            shutdown: ctx.shutdown.clone(),
        };
        let (a, b) = (self.0.run(ctx), self.1.run(second));
        Box::pin(async move {
            futures::try_join!(a, b)?;
            Ok(())
        })
    }
}
