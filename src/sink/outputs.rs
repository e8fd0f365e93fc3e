//! The sinks of one run, as the pipeline sees them: opened, brought up to
//! date with the state store, and written to record by record.

use std::time::Duration;

use anyhow::Context;

use super::{Config, Sink};
use crate::record::Record;
use crate::state::Store;

/// Which of a run's sinks (by their place in the config) a record still has
/// to reach; one bit each.
pub type Targets = u64;

/// The sinks among a run's `sinks` (their ids in the store, in config order)
/// that do not hold a record; `holders` are those that do (the store's
/// [`crate::state::State::holders`]).
pub fn targets(sinks: &[i64], holders: &[i64]) -> Targets {
    sinks
        .iter()
        .enumerate()
        .filter(|(_, id)| !holders.contains(id))
        .fold(0, |set, (i, _)| set | 1 << i)
}

/// What became of one record in a write to the run's sinks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The sinks (their ids in the store) that hold it now.
    pub taken: Vec<i64>,
    /// The sinks that refused it for good: it is in the dead-letter file.
    pub refused: Vec<i64>,
}

/// The run's sinks, each with its id in the state store.
pub struct Outputs {
    sinks: Vec<Sink>,
    ids: Vec<i64>,
    store: Store,
}

impl Outputs {
    /// Opens the configured sinks and brings the state store up to date with
    /// what each holds: everything, for a sink it has not seen before (a new
    /// output, or a store that was lost beside a full sink); the end of the
    /// sink's log past the position it last marked, for the others (records
    /// written there just before a crash). So a record already in a sink is
    /// never written to it again.
    pub async fn open(
        configs: &[Config],
        store: &Store,
        patience: Option<Duration>,
    ) -> anyhow::Result<Outputs> {
        anyhow::ensure!(
            configs.len() <= Targets::BITS as usize,
            "at most {} sinks",
            Targets::BITS
        );
        let mut outputs = Outputs {
            sinks: Vec::new(),
            ids: Vec::new(),
            store: store.clone(),
        };
        for config in configs {
            let mut sink = Sink::open(config, patience).await.context("opening sink")?;
            // Known to the health board (and the status page) from now on.
            crate::observe::health().ok(&sink.name());
            let id = outputs.catch_up(&mut sink).await?;
            outputs.sinks.push(sink);
            outputs.ids.push(id);
        }
        let ids = outputs.ids.clone();
        store
            .call(move |s| {
                s.set_sinks(ids);
                Ok(())
            })
            .await?;
        Ok(outputs)
    }

    /// Reads back what the sink holds that the store does not know; the
    /// sink's id in the store.
    async fn catch_up(&self, sink: &mut Sink) -> anyhow::Result<i64> {
        let (name, key) = (sink.name(), sink.key());
        let k = key.clone();
        let mut mark = self.store.call(move |s| s.sink(&k)).await?;
        let position = sink
            .position()
            .await
            .with_context(|| format!("reading the position of {name}"))?;
        if position.is_some_and(|p| p < mark.position) {
            tracing::warn!(
                sink = name,
                "shorter than when this state store last wrote to it (cut, replaced or \
                 recreated): reading back what it holds now"
            );
            let id = mark.id;
            mark = self
                .store
                .call(move |s| {
                    s.forget_sink(id)?;
                    s.sink(&key)
                })
                .await?;
        }
        let behind = position.is_some_and(|p| p > mark.position);
        if mark.adopted && !behind {
            return Ok(mark.id);
        }
        // Chunks are queued, not awaited (the scan's callback is not async);
        // the first error among them stops the adoption below.
        let mut found = 0u64;
        let store = self.store.clone();
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failure = failed.clone();
        sink.scan(mark.position, &mut |ids, reached| {
            found += ids.len() as u64;
            let failure = failure.clone();
            store.send(move |s| {
                if let Err(e) = s.add_sink_records(mark.id, &ids, reached) {
                    let mut first = failure.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(e);
                }
            });
            Ok(())
        })
        .await
        .with_context(|| format!("reading back what {name} holds"))?;
        let id = mark.id;
        self.store
            .call(move |s| {
                let first = failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                match first {
                    Some(e) => Err(e),
                    None => s.sink_adopted(id),
                }
            })
            .await
            .with_context(|| format!("recording what {name} holds"))?;
        match (mark.adopted, found) {
            (_, 0) => {}
            (true, n) => tracing::info!(
                sink = name,
                records = n,
                "records written just before the last stop are there: not written again"
            ),
            (false, n) => tracing::warn!(
                sink = name,
                records = n,
                "the state store did not know this sink's records (a new store beside an \
                 old output?): they are not written again"
            ),
        }
        Ok(mark.id)
    }

    /// The sinks' ids in the store, in config order.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Writes each record to the sinks it targets. A record a sink refuses
    /// for good goes to the dead-letter file, with an ERROR naming it; the
    /// rest goes on. Returns what became of each record, and how far the
    /// sinks' logs reach now.
    pub async fn write(
        &mut self,
        batch: &[(Record, Targets)],
    ) -> anyhow::Result<(Vec<Delivered>, Vec<(i64, u64)>)> {
        let mut delivered = vec![Delivered::default(); batch.len()];
        let mut positions = Vec::new();
        for (i, (sink, &id)) in self.sinks.iter_mut().zip(&self.ids).enumerate() {
            let places: Vec<usize> = (0..batch.len())
                .filter(|&k| batch[k].1 & (1 << i) != 0)
                .collect();
            if places.is_empty() {
                continue;
            }
            let records: Vec<&Record> = places.iter().map(|&k| &batch[k].0).collect();
            let written = sink
                .write(&records)
                .await
                .with_context(|| format!("writing to {}", sink.name()))?;
            let mut refused = vec![false; places.len()];
            for (place, reason) in written.rejected {
                refused[place] = true;
                let record = records[place].clone();
                tracing::error!(
                    sink = sink.name(),
                    record = record.id,
                    url = record.url.as_deref().unwrap_or(""),
                    "the sink refused the record for good; set aside in the dead-letter \
                     file: {reason}"
                );
                let name = sink.name();
                self.store
                    .call(move |s| s.dead_letter(&name, &record, &reason))
                    .await?;
            }
            for (&k, refused) in places.iter().zip(refused) {
                match refused {
                    false => delivered[k].taken.push(id),
                    true => delivered[k].refused.push(id),
                }
            }
            if let Some(position) = written.position {
                positions.push((id, position));
            }
        }
        Ok((delivered, positions))
    }
}
