//! The node-wide commit pipeline: one thread that merges the appends of every conversation
//! waiting at the moment into a single durable write (blind writes only: see
//! [`Engine::write`]).
//!
//! A one-to-one chat has one message in flight at a time, so batching per conversation would
//! not help; merging across conversations is what turns one fsync into many messages. While
//! a commit is running, new appends queue up; the next commit takes all of them (up to
//! `max_batch`). Each append's completion runs after the fsync, in submission order, on the
//! pipeline thread — so it must be quick (typically a `cast` to an actor).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::StoreError;
use super::kv::{Engine, Group, KvError};
pub use super::kv::{Guard, Write};

/// Called once the append is durable (`Ok`) or has failed.
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Counters for benchmarks and logs.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub commits: AtomicU64,
    pub appends: AtomicU64,
}

/// What the pipeline thread and its callers share.
#[derive(Default)]
struct State {
    /// Appends waiting for the next commit.
    queue: VecDeque<Append>,
    /// Completions of the commit running now. Taken by whoever finishes first: the
    /// pipeline thread when the commit returns, or [`Shared::fail`] when the engine died
    /// under it (a poisoned fjall can stall a write forever).
    in_flight: Vec<Done>,
    stopping: bool,
    /// Set once the engine failed fatally: from then on every append fails at once.
    failed: Option<String>,
}

/// One submission: writes applied together, if their guard holds.
struct Append {
    guard: Option<Arc<Guard>>,
    writes: Vec<Write>,
    done: Done,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    /// Fails every queued and in-flight append and every later one.
    fn fail(&self, why: &str) {
        let (queued, in_flight) = {
            let mut state = self.state.lock();
            if state.failed.is_some() {
                return;
            }
            state.failed = Some(why.to_owned());
            (std::mem::take(&mut state.queue), std::mem::take(&mut state.in_flight))
        };
        self.wake.notify_all();
        let failed = in_flight.len() + queued.len();
        tracing::error!(error = why, failed, "the store failed: every pending append gets an error");
        let err = StoreError::Engine(format!("the store failed: {why}"));
        for done in in_flight.into_iter().chain(queued.into_iter().map(|append| append.done)) {
            done(Err(err.clone()));
        }
    }
}

/// See [`Pipeline::failer`].
pub struct Failer(Arc<Shared>);

impl Failer {
    pub fn fail(&self, why: &str) {
        self.0.fail(why);
    }
}

/// Handle to the pipeline thread.
pub struct Pipeline {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: Arc<PipelineStats>,
}

impl Pipeline {
    /// Starts the pipeline thread over `engine`.
    pub fn start(engine: Arc<dyn Engine>, max_batch: usize) -> Pipeline {
        let shared = Arc::new(Shared::default());
        let stats = Arc::new(PipelineStats::default());
        let (thread_shared, thread_stats) = (shared.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("commit-pipeline".into())
            .spawn(move || run(engine, &thread_shared, max_batch.max(1), &thread_stats))
            .expect("spawn the commit pipeline thread");
        Pipeline { shared, thread: Mutex::new(Some(thread)), stats }
    }

    /// Queues `writes` for the next durable commit; `done` runs after it.
    pub fn submit(&self, writes: Vec<Write>, done: Done) {
        self.submit_guarded(None, writes, done);
    }

    /// [`Pipeline::submit`], applied only if `guard` holds when the commit runs; else
    /// `done` gets [`StoreError::Fenced`] and nothing of `writes` is written.
    pub fn submit_guarded(&self, guard: Option<Arc<Guard>>, writes: Vec<Write>, done: Done) {
        let refused = {
            let mut state = self.shared.state.lock();
            if let Some(why) = &state.failed {
                Some(StoreError::Engine(format!("the store failed: {why}")))
            } else if state.stopping {
                Some(StoreError::Closed)
            } else {
                state.queue.push_back(Append { guard, writes, done });
                self.shared.wake.notify_one();
                return;
            }
        };
        if let Some(err) = refused {
            done(Err(err));
        }
    }

    /// Fails every queued and in-flight append, and every later one, with `why`: the
    /// engine cannot write any more (see [`super::Store::failure`]).
    pub fn fail(&self, why: &str) {
        self.shared.fail(why);
    }

    /// A handle that can [`Pipeline::fail`] it from elsewhere (the engine's fatal hook).
    pub fn failer(&self) -> Failer {
        Failer(self.shared.clone())
    }

    /// Commits what is queued, then stops the thread. Later submissions fail. After a
    /// failure the thread is not waited for: it may be stuck in the dead engine.
    pub fn stop(&self) {
        let failed = {
            let mut state = self.shared.state.lock();
            state.stopping = true;
            state.failed.is_some()
        };
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.lock().take()
            && !failed
        {
            let _ = thread.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(engine: Arc<dyn Engine>, shared: &Shared, max_batch: usize, stats: &PipelineStats) {
    let mut batch: Vec<(Option<Arc<Guard>>, Vec<Write>)> = Vec::with_capacity(max_batch);
    loop {
        {
            let mut state = shared.state.lock();
            while state.queue.is_empty() && !state.stopping && state.failed.is_none() {
                shared.wake.wait(&mut state);
            }
            if state.failed.is_some() || state.queue.is_empty() {
                // Failed (everything queued was answered) or stopping with nothing left.
                return;
            }
            let take = state.queue.len().min(max_batch);
            let mut in_flight = std::mem::take(&mut state.in_flight);
            for Append { guard, writes, done } in state.queue.drain(..take) {
                batch.push((guard, writes));
                in_flight.push(done);
            }
            state.in_flight = in_flight;
        }
        let appends = batch.len();
        let groups: Vec<Group<'_>> =
            batch.iter().map(|(guard, writes)| Group { guard: guard.as_deref(), writes }).collect();
        let result = engine.write(&groups);
        drop(groups);
        batch.clear();
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.appends.fetch_add(appends as u64, Ordering::Relaxed);
        let result = match result {
            Ok(applied) => Ok(applied),
            Err(KvError::Fatal(why)) => {
                // The engine has usually reported it already; failing twice is harmless.
                shared.fail(&why);
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, appends, "commit failed");
                Err(StoreError::from(err))
            }
        };
        let done: Vec<Done> = std::mem::take(&mut shared.state.lock().in_flight);
        for (n, done) in done.into_iter().enumerate() {
            done(match &result {
                Ok(applied) if applied.get(n) == Some(&false) => Err(StoreError::Fenced),
                Ok(_) => Ok(()),
                Err(err) => Err(err.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;
    use crate::store::kv::FjallEngine;

    #[test]
    fn appends_become_durable_and_complete_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine: Arc<dyn Engine> = Arc::new(FjallEngine::open(dir.path()).unwrap());
        let pipeline = Pipeline::start(engine.clone(), 16);
        let (done_tx, done_rx) = channel();
        for i in 0u8..100 {
            let done_tx = done_tx.clone();
            pipeline.submit(
                vec![Write::Set(vec![b'k', i], vec![i])],
                Box::new(move |result| done_tx.send((i, result.is_ok())).unwrap()),
            );
        }
        let completions: Vec<(u8, bool)> = (0..100).map(|_| done_rx.recv().unwrap()).collect();
        assert_eq!(completions, (0u8..100).map(|i| (i, true)).collect::<Vec<_>>());
        for i in 0u8..100 {
            assert_eq!(engine.snapshot().get(&[b'k', i]).unwrap(), Some(vec![i]));
        }
        let commits = pipeline.stats.commits.load(Ordering::Relaxed);
        assert!((7..=100).contains(&commits), "at most 16 appends per commit: {commits}");
        pipeline.stop();
        let (tx, rx) = channel();
        pipeline.submit(vec![], Box::new(move |r| tx.send(r.is_err()).unwrap()));
        assert!(rx.recv().unwrap(), "submissions after stop fail");
    }
}
