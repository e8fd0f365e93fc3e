//! Which process fetches which hosts: hosts hash into a fixed number of
//! partitions, and each partition is leased to one process at a time from a
//! table in the state store's PostgreSQL schema.
//!
//! Every process renews its leases four times per lease period, counts the
//! processes alive (a row each, touched by every renewal) and takes its fair
//! share: free or expired partitions, claimed with `FOR UPDATE SKIP LOCKED`
//! so that two processes never claim one; a process holding more than its
//! share lets the extra ones go once no request to their hosts is in flight.
//! A process that dies stops renewing: its partitions expire and are taken.
//!
//! Politeness across the cluster rests on one rule: a request starts only
//! while the lease has longer to run, by this process's own clock counted
//! from before the renewal was sent, than a request may take (`margin`, the
//! HTTP timeout). By the time the database would give the partition to
//! another process, every request of the old holder has ended.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::config::Cluster;
use crate::fetch::share::Hold;
use crate::state::PgLocation;

/// This process's partitions; clones share them.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    parts: u32,
    /// Requests start only with at least this much of the lease left.
    margin: Duration,
    held: Mutex<BTreeMap<u32, Held>>,
    changed: watch::Sender<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    /// When the lease runs out, by this process's clock.
    until: Instant,
    /// Being given up: no new request starts.
    draining: bool,
    in_flight: usize,
}

/// One request in flight to a host of `part`.
struct Guard {
    inner: Arc<Inner>,
    part: u32,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut held = self.inner.lock();
        if let Some(h) = held.get_mut(&self.part) {
            h.in_flight = h.in_flight.saturating_sub(1);
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Leases {
    fn new(parts: u32, margin: Duration) -> Leases {
        Leases {
            inner: Arc::new(Inner {
                parts,
                margin,
                held: Mutex::default(),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// The partition of a host (FNV-1a of its lowercase name: the same in
    /// every process and build).
    pub fn partition(&self, host: &str) -> u32 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in host.to_ascii_lowercase().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % u64::from(self.inner.parts)) as u32
    }

    /// A hold for one request to `host`, when this process may send it now.
    pub fn hold(&self, host: &str) -> Option<Hold> {
        let part = self.partition(host);
        let mut held = self.inner.lock();
        let h = held.get_mut(&part)?;
        if h.draining || h.until.saturating_duration_since(Instant::now()) < self.inner.margin {
            return None;
        }
        h.in_flight += 1;
        Some(Box::new(Guard {
            inner: self.inner.clone(),
            part,
        }))
    }

    /// The partitions this process may fetch now.
    pub fn held(&self) -> BTreeSet<u32> {
        let now = Instant::now();
        self.inner
            .lock()
            .iter()
            .filter(|(_, h)| !h.draining && h.until > now)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Changes whenever the partitions held change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|n| *n += 1);
    }
}

/// The lease table of a cluster, on a connection of its own.
pub struct Table {
    client: Client,
    leases: String,
    nodes: String,
    node: String,
    lease: Duration,
}

impl Table {
    /// Connects and lays out the cluster's tables (one row per partition)
    /// in the state store's schema.
    pub async fn open(at: &PgLocation, cluster: &Cluster) -> anyhow::Result<Table> {
        let client = connect(at).await?;
        let schema = &at.schema;
        let leases = format!("\"{schema}\".\"{}_leases\"", cluster.name);
        let nodes = format!("\"{schema}\".\"{}_nodes\"", cluster.name);
        // One transaction under a lock: processes starting together would
        // otherwise race to create the same tables.
        client
            .batch_execute(&format!(
                "BEGIN;
                 SELECT pg_advisory_xact_lock(hashtext('tidings cluster layout'));
                 CREATE SCHEMA IF NOT EXISTS \"{schema}\";
                 CREATE TABLE IF NOT EXISTS {leases} (
                     part   INTEGER PRIMARY KEY,
                     holder TEXT,
                     until  TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
                 );
                 CREATE TABLE IF NOT EXISTS {nodes} (
                     node TEXT PRIMARY KEY,
                     seen TIMESTAMPTZ NOT NULL
                 );
                 INSERT INTO {leases} (part) SELECT generate_series(0, {last})
                     ON CONFLICT DO NOTHING;
                 COMMIT;",
                last = cluster.partitions - 1
            ))
            .await
            .context("laying out the cluster's lease tables")?;
        Ok(Table {
            client,
            leases,
            nodes,
            node: cluster.node.clone(),
            lease: cluster.lease,
        })
    }

    fn secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// One round: say this process is alive, renew what it holds, take or
    /// give up partitions towards its share. Returns the partitions held and
    /// the live processes.
    async fn round(&self, leases: &Leases) -> anyhow::Result<(usize, i64)> {
        let started = Instant::now();
        let secs = self.secs();
        self.client
            .execute(
                &format!(
                    "INSERT INTO {} (node, seen) VALUES ($1, now())
                     ON CONFLICT (node) DO UPDATE SET seen = now()",
                    self.nodes
                ),
                &[&self.node],
            )
            .await?;
        let live: i64 = self
            .client
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE seen > now() - make_interval(secs => $1)",
                    self.nodes
                ),
                &[&secs],
            )
            .await?
            .get(0);
        let renewed: BTreeSet<u32> = self
            .client
            .query(
                &format!(
                    "UPDATE {} SET until = now() + make_interval(secs => $2)
                     WHERE holder = $1 RETURNING part",
                    self.leases
                ),
                &[&self.node, &secs],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, i32>(0) as u32)
            .collect();
        let until = started + self.lease;
        let parts = leases.inner.parts as usize;
        let share = parts.div_ceil(live.max(1) as usize);
        let mut changed = false;
        let (release, want) = {
            let mut held = leases.inner.lock();
            let lost: Vec<u32> = held
                .keys()
                .filter(|p| !renewed.contains(p))
                .copied()
                .collect();
            for p in lost {
                tracing::warn!(partition = p, "lease lost to another process");
                held.remove(&p);
                changed = true;
            }
            for p in &renewed {
                let h = held.entry(*p).or_insert(Held {
                    until,
                    draining: false,
                    in_flight: 0,
                });
                h.until = until;
            }
            // Give up the highest partitions beyond the share, each once
            // nothing is in flight to its hosts.
            let keep: BTreeSet<u32> = held.keys().take(share).copied().collect();
            let mut release = Vec::new();
            for (p, h) in held.iter_mut() {
                if keep.contains(p) {
                    continue;
                }
                if !h.draining {
                    h.draining = true;
                    changed = true;
                }
                if h.in_flight == 0 {
                    release.push(*p as i32);
                }
            }
            for p in &release {
                held.remove(&(*p as u32));
            }
            (release, share.saturating_sub(held.len()))
        };
        if !release.is_empty() {
            self.client
                .execute(
                    &format!(
                        "UPDATE {} SET holder = NULL, until = '-infinity'
                         WHERE holder = $1 AND part = ANY($2)",
                        self.leases
                    ),
                    &[&self.node, &release],
                )
                .await?;
            tracing::info!(partitions = ?release, share, live, "leases given up to balance");
        }
        if want > 0 {
            let claimed: Vec<u32> = self
                .client
                .query(
                    &format!(
                        "WITH free AS (
                             SELECT part FROM {0} WHERE until < now()
                             ORDER BY part LIMIT $3 FOR UPDATE SKIP LOCKED
                         )
                         UPDATE {0} l SET holder = $1, until = now() + make_interval(secs => $2)
                         FROM free WHERE l.part = free.part RETURNING l.part",
                        self.leases
                    ),
                    &[&self.node, &secs, &(want as i64)],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, i32>(0) as u32)
                .collect();
            if !claimed.is_empty() {
                tracing::info!(partitions = ?claimed, share, live, "leases taken");
                let mut held = leases.inner.lock();
                for p in claimed {
                    held.insert(
                        p,
                        Held {
                            until,
                            draining: false,
                            in_flight: 0,
                        },
                    );
                }
                changed = true;
            }
        }
        if changed {
            leases.bump();
        }
        let held = leases.inner.lock().len();
        Ok((held, live))
    }

    /// Gives every lease up at once and says this process is gone: its
    /// partitions pass on without waiting for them to expire.
    async fn leave(&self) -> anyhow::Result<()> {
        self.client
            .execute(
                &format!(
                    "UPDATE {} SET holder = NULL, until = '-infinity' WHERE holder = $1",
                    self.leases
                ),
                &[&self.node],
            )
            .await?;
        self.client
            .execute(
                &format!("DELETE FROM {} WHERE node = $1", self.nodes),
                &[&self.node],
            )
            .await?;
        Ok(())
    }
}

/// Starts keeping this process's leases: renewed every quarter lease
/// until `stop`, then given up (once the caller's requests have ended).
pub async fn keep(
    at: &PgLocation,
    cluster: &Cluster,
    margin: Duration,
    stop: CancellationToken,
) -> anyhow::Result<(Leases, tokio::task::JoinHandle<()>)> {
    let table = Table::open(at, cluster).await?;
    let leases = Leases::new(cluster.partitions, margin);
    let every = cluster.lease / 4;
    let mine = leases.clone();
    let task = tokio::spawn(async move {
        let mut failing = false;
        loop {
            match table.round(&mine).await {
                Ok((held, live)) => {
                    if failing {
                        tracing::info!(held, live, "lease table reachable again");
                    }
                    failing = false;
                    metrics::gauge!("tidings_cluster_partitions").set(held as f64);
                    metrics::gauge!("tidings_cluster_nodes").set(live as f64);
                }
                Err(e) => {
                    // The leases run out by themselves: requests stop
                    // before another process may take the hosts.
                    if !failing {
                        tracing::warn!("renewing the cluster's leases: {e:#}");
                    }
                    failing = true;
                    mine.bump();
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => break,
            }
        }
        mine.inner.lock().clear();
        mine.bump();
        if let Err(e) = table.leave().await {
            tracing::warn!("giving the cluster's leases up: {e:#} (they expire)");
        }
    });
    Ok((leases, task))
}

async fn connect(at: &PgLocation) -> anyhow::Result<Client> {
    let split = crate::pgtls::split(&at.url).map_err(anyhow::Error::msg)?;
    let mut config: tokio_postgres::Config = split.url.parse().context("the [state] url")?;
    config.ssl_mode(at.tls.mode.negotiation());
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("tidings cluster leases");
    let connector = at.tls.connector().map_err(anyhow::Error::msg)?;
    let (client, connection) = config
        .connect(connector)
        .await
        .with_context(|| format!("connecting to {}", at.describe()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("the lease table's connection: {e}");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_always_falls_in_the_same_partition() {
        let leases = Leases::new(64, Duration::from_secs(1));
        let p = leases.partition("Example.org");
        assert_eq!(p, leases.partition("example.org"));
        assert!(p < 64);
        let spread: BTreeSet<u32> = (1..=200)
            .map(|i| leases.partition(&format!("127.0.1.{i}")))
            .collect();
        assert!(
            spread.len() > 40,
            "200 hosts in {} of 64 partitions",
            spread.len()
        );
    }

    #[test]
    fn no_request_starts_on_a_lease_about_to_run_out_or_being_given_up() {
        let leases = Leases::new(4, Duration::from_secs(10));
        let host = "news.example";
        let part = leases.partition(host);
        assert!(leases.hold(host).is_none(), "not held");
        let held = |until, draining| Held {
            until,
            draining,
            in_flight: 0,
        };
        let soon = Instant::now() + Duration::from_secs(5);
        leases.inner.lock().insert(part, held(soon, false));
        assert!(
            leases.hold(host).is_none(),
            "5 s left, a request may take 10"
        );
        let later = Instant::now() + Duration::from_secs(60);
        leases.inner.lock().insert(part, held(later, false));
        let guard = leases.hold(host).expect("60 s left");
        assert_eq!(leases.inner.lock()[&part].in_flight, 1);
        drop(guard);
        assert_eq!(leases.inner.lock()[&part].in_flight, 0);
        leases.inner.lock().insert(part, held(later, true));
        assert!(leases.hold(host).is_none(), "being given up");
    }
}
