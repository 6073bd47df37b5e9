//! The way to one other node: a queue of [`Item`]s and a task that sends what has gathered
//! in it as one batch to that node's router. Nothing waits for the network: senders queue
//! and go on, and while one batch is on its way the next one gathers — like the commit
//! pipeline, the batch grows with the load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use ractor::ActorRef;
use tokio::sync::mpsc;

use super::router::RouterMsg;
use super::wire::{Batch, Item};

/// A batch is cut once it holds this many bytes (the receiving side refuses network
/// messages above [`super::MAX_FRAME`]; one item is at most a reply's `max_reply_bytes`).
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Most items taken off the queue at once.
const BATCH_ITEMS: usize = 4096;

/// Most bytes queued for one node. Beyond it, pushes are dropped (their messages stay in
/// history and unread counts) and forwarded requests are refused with 4200 at once.
pub const MAX_QUEUED: usize = 64 * 1024 * 1024;

/// Counts of what this node sent to others (for `/healthz` and the benchmarks).
#[derive(Debug, Default)]
pub struct Sent {
    pub batches: AtomicU64,
    pub items: AtomicU64,
    pub bytes: AtomicU64,
}

/// The way to one other node.
pub struct Link {
    /// Its node id (from the store, new at every start) and its name.
    pub node: u64,
    pub name: String,
    /// Its router (its proxy here: a new connection to the node brings a new one).
    pub router: ractor::ActorId,
    /// When a batch from it last came in, and when one last went to it (ms on the routes'
    /// own clock).
    pub heard_ms: AtomicU64,
    pub sent_ms: Arc<AtomicU64>,
    /// Its WebSocket URL for clients, once it said.
    pub ws_url: parking_lot::Mutex<Option<String>>,
    tx: mpsc::UnboundedSender<Item>,
    queued: Arc<AtomicUsize>,
}

impl Link {
    /// Starts the sending task towards `router`, on the current runtime. It ends when the
    /// link is dropped, or when that router is gone.
    /// `clock` is the routes' own clock.
    pub fn open(
        me: u64,
        node: u64,
        name: String,
        router: ActorRef<RouterMsg>,
        sent: Arc<Sent>,
        clock: Instant,
    ) -> Link {
        let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
        let queued = Arc::new(AtomicUsize::new(0));
        let counted = queued.clone();
        let now_ms = clock.elapsed().as_millis() as u64;
        let sent_ms = Arc::new(AtomicU64::new(now_ms));
        let last_sent = sent_ms.clone();
        let router_id = router.get_id();
        tokio::spawn(async move {
            let mut taken = Vec::with_capacity(64);
            while rx.recv_many(&mut taken, BATCH_ITEMS).await > 0 {
                let mut batch = Batch { from: me, items: Vec::with_capacity(taken.len()) };
                let mut weight = 0;
                for item in taken.drain(..) {
                    let w = item.weight();
                    counted.fetch_sub(w, Ordering::Relaxed);
                    if weight + w > BATCH_BYTES && !batch.items.is_empty() {
                        if !send(&router, &mut batch, &sent) {
                            return;
                        }
                        weight = 0;
                    }
                    weight += w;
                    batch.items.push(item);
                }
                if !send(&router, &mut batch, &sent) {
                    return;
                }
                last_sent.store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        });
        let heard_ms = AtomicU64::new(now_ms);
        Link { node, name, router: router_id, heard_ms, sent_ms, ws_url: Default::default(), tx, queued }
    }

    /// Queues `item`. Returns `false` if the link is closed.
    pub fn send(&self, item: Item) -> bool {
        self.queued.fetch_add(item.weight(), Ordering::Relaxed);
        self.tx.send(item).is_ok()
    }

    /// Whether less than [`MAX_QUEUED`] bytes wait.
    pub fn has_room(&self) -> bool {
        self.queued.load(Ordering::Relaxed) < MAX_QUEUED
    }
}

/// Sends the batch and empties it. Returns `false` when the router is gone.
fn send(router: &ActorRef<RouterMsg>, batch: &mut Batch, sent: &Sent) -> bool {
    let bytes = batch.encode();
    sent.batches.fetch_add(1, Ordering::Relaxed);
    sent.items.fetch_add(batch.items.len() as u64, Ordering::Relaxed);
    sent.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    batch.items.clear();
    match router.cast(RouterMsg::Batch(bytes)) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(error = %err, "a cluster member's router is gone");
            false
        }
    }
}
