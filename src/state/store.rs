//! The state store on a thread of its own, behind a small async interface.
//!
//! Database calls block: on a runtime worker they would stall every task on
//! it. The connection lives on one thread that runs the jobs it is sent in
//! order; [`Store::call`] awaits a job's result, [`Store::send`] queues one
//! and goes on (its order with later jobs is kept).

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::{Location, State, StateError};

type Job = Box<dyn FnOnce(&mut State) + Send>;

enum Message {
    Job(Job),
    /// Closes the store (and releases the folder's lock) even while other
    /// handles are alive.
    Close(oneshot::Sender<()>),
}

/// A handle on the store's thread; clones share it.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Message>,
}

impl Store {
    /// Opens the store at `at` (see [`State::open`]) on a new thread.
    pub async fn open(at: &Location) -> Result<Store, StateError> {
        Store::open_with(at, State::open).await
    }

    /// Opens the store as one process of a cluster (see
    /// [`State::open_member`]).
    pub async fn open_member(at: &Location) -> Result<Store, StateError> {
        Store::open_with(at, State::open_member).await
    }

    async fn open_with(
        at: &Location,
        open: fn(&Location) -> Result<State, StateError>,
    ) -> Result<Store, StateError> {
        let (jobs, queue) = mpsc::channel::<Message>();
        let (ready, opened) = oneshot::channel();
        let at = at.clone();
        let thread = std::thread::Builder::new()
            .name("tidings-state".to_string())
            .spawn(move || {
                let mut state = match open(&at) {
                    Ok(state) => {
                        let _ = ready.send(Ok(()));
                        state
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                while let Ok(message) = queue.recv() {
                    match message {
                        Message::Job(job) => job(&mut state),
                        Message::Close(done) => {
                            drop(state);
                            let _ = done.send(());
                            return;
                        }
                    }
                }
            });
        if let Err(source) = thread {
            return Err(StateError::Thread { source });
        }
        opened.await.map_err(|_| StateError::Closed)??;
        Ok(Store { jobs })
    }

    /// Runs `job` on the store's thread and returns what it returns.
    pub async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut State) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Message::Job(Box::new(move |state| {
                let _ = reply.send(job(state));
            })))
            .map_err(|_| StateError::Closed)?;
        answer.await.map_err(|_| StateError::Closed)?
    }

    /// Queues `job` without waiting for it: for callers that cannot wait
    /// (an acknowledgement, a drop) and report their own errors.
    pub fn send(&self, job: impl FnOnce(&mut State) + Send + 'static) {
        if self.jobs.send(Message::Job(Box::new(job))).is_err() {
            tracing::error!("the state store is closed: an update is lost");
        }
    }

    /// Runs what is queued, closes the store and releases the folder's lock.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Message::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_and_close_releases_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Location::folder(dir.path())).await.unwrap();
        let sink = store.call(|s| s.sink("jsonl:/a")).await.unwrap();
        for i in 0..100 {
            let id = format!("r{i}");
            store.send(move |s| {
                s.add_sink_records(sink.id, &[id], i).unwrap();
            });
        }
        let mark = store.call(|s| s.sink("jsonl:/a")).await.unwrap();
        assert_eq!(mark.position, 99, "queued jobs ran first, in order");
        assert!(matches!(
            Store::open(&Location::folder(dir.path())).await,
            Err(StateError::Locked { .. })
        ));
        store.close().await;
        assert!(matches!(
            store.call(|s| s.holders("r1")).await,
            Err(StateError::Closed)
        ));
        Store::open(&Location::folder(dir.path()))
            .await
            .expect("the lock went with the store");
    }
}
