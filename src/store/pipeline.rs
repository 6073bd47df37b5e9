//! The node-wide commit pipeline: one thread that merges the appends of every conversation
//! waiting at the moment into a single durable write (blind writes only: see
//! [`Engine::write`]).
//!
//! A one-to-one chat has one message in flight at a time, so batching per conversation would
//! not help; merging across conversations is what turns one fsync into many messages. While
//! a commit is running, new appends queue up; the next commit takes all of them (up to
//! `max_batch`). Each append's completion runs after the fsync, in submission order, on the
//! pipeline thread — so it must be quick (typically a `cast` to an actor).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::StoreError;
use super::kv::Engine;
pub use super::kv::Write;

/// Called once the append is durable (`Ok`) or has failed.
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

enum Job {
    Append(Vec<Write>, Done),
    Stop,
}

/// Counters for benchmarks and logs.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub commits: AtomicU64,
    pub appends: AtomicU64,
}

/// Handle to the pipeline thread.
pub struct Pipeline {
    tx: Mutex<Sender<Job>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: Arc<PipelineStats>,
}

impl Pipeline {
    /// Starts the pipeline thread over `engine`.
    pub fn start(engine: Arc<dyn Engine>, max_batch: usize) -> Pipeline {
        let (tx, rx) = channel();
        let stats = Arc::new(PipelineStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("commit-pipeline".into())
            .spawn(move || run(engine, rx, max_batch.max(1), thread_stats))
            .expect("spawn the commit pipeline thread");
        Pipeline { tx: Mutex::new(tx), thread: Mutex::new(Some(thread)), stats }
    }

    /// Queues `writes` for the next durable commit; `done` runs after it.
    pub fn submit(&self, writes: Vec<Write>, done: Done) {
        let job = Job::Append(writes, done);
        if let Err(std::sync::mpsc::SendError(job)) = self.tx.lock().send(job)
            && let Job::Append(_, done) = job
        {
            done(Err(StoreError::Closed));
        }
    }

    /// Commits what is queued, then stops the thread. Later submissions fail.
    pub fn stop(&self) {
        let _ = self.tx.lock().send(Job::Stop);
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(engine: Arc<dyn Engine>, rx: Receiver<Job>, max_batch: usize, stats: Arc<PipelineStats>) {
    let mut batch: Vec<(Vec<Write>, Done)> = Vec::with_capacity(max_batch);
    let mut stopping = false;
    while !stopping {
        match rx.recv() {
            Ok(Job::Append(writes, done)) => batch.push((writes, done)),
            Ok(Job::Stop) | Err(_) => break,
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Job::Append(writes, done)) => batch.push((writes, done)),
                Ok(Job::Stop) => {
                    stopping = true;
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let result = commit(engine.as_ref(), &batch);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.appends.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(err) = &result {
            tracing::error!(error = %err, appends = batch.len(), "commit failed");
        }
        for (_, done) in batch.drain(..) {
            done(result.clone());
        }
    }
    // Anything submitted after the stop request fails rather than hanging.
    while let Ok(job) = rx.try_recv() {
        if let Job::Append(_, done) = job {
            done(Err(StoreError::Closed));
        }
    }
}

/// Writes the whole batch as one atomic, durable write.
fn commit(engine: &dyn Engine, batch: &[(Vec<Write>, Done)]) -> Result<(), StoreError> {
    Ok(engine.write(&mut batch.iter().flat_map(|(writes, _)| writes))?)
}

#[cfg(test)]
mod tests {
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
