//! What a worker process is told to do (one JSON line on its stdin) and what it reports
//! back (a MessagePack file). Times are seconds after the common start ("go") instant.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::record::{Recv, Sent};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The server's nodes: client `n` logs in on node `n mod len`, and on the next one
    /// after each failed attempt.
    pub servers: Vec<SocketAddr>,
    pub app_id: String,
    /// Client `n` logs in as `{prefix}{n}`.
    pub prefix: String,
    /// Conversation index → conversation id.
    pub cids: Vec<String>,
    pub clients: Vec<ClientPlan>,
    /// How many loopback source addresses the sockets spread over.
    pub ips: u32,
    /// Logins per second this worker starts (0: all at once).
    pub login_rate: f64,
    pub payload_bytes: usize,
    /// How many rate steps (histogram sets) there are.
    pub steps: usize,
    /// When every client stops: after its final history sync (if asked) it closes.
    pub end_at: f64,
    pub final_sync: bool,
    /// Send the SDK's receive-acks (once a second per conversation with news).
    pub receive_acks: bool,
    /// Record every receipt for the checker (off only for the largest fan-outs).
    pub record: bool,
    pub out: PathBuf,
}

impl Plan {
    pub fn client_id(&self, index: u32) -> String {
        format!("{}{index}", self.prefix)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientPlan {
    pub index: u32,
    /// Conversations to sync from history on reconnect and at the end.
    pub convs: Vec<u32>,
    pub sends: Vec<Segment>,
    /// Close the socket at this time…
    pub drop_at: Option<f64>,
    /// …and come back at this one, then sync every conversation.
    pub back_at: Option<f64>,
    /// Reconnect (and sync) whenever the connection breaks.
    pub auto_reconnect: bool,
}

/// `count` messages to `conv` at `rate` per second from `start`, counted under `step`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Segment {
    pub conv: u32,
    pub step: u16,
    pub start: f64,
    pub rate: f64,
    pub count: u32,
}

/// Latencies and counts of the messages scheduled in one step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepResult {
    /// Send → ack, HDR histogram (µs), serialized.
    pub ack: Vec<u8>,
    /// Send → live receipt.
    pub recv: Vec<u8>,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    /// Unix ns of the first scheduled send and of the last live receipt.
    pub first_send_ns: i64,
    pub last_recv_ns: i64,
    pub last_ack_ns: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub steps: Vec<StepResult>,
    pub sent: Vec<Sent>,
    pub recv: Vec<Recv>,
    /// Connect + open → opened, per login.
    pub login: Vec<u8>,
    /// For clients that came back: scheduled return → history synced.
    pub catchup: Vec<u8>,
    /// Unix ns at which the last returning client had synced.
    pub last_catchup_ns: i64,
    pub login_failures: u64,
    pub disconnects: u64,
    pub reconnects: u64,
    /// Sends that fell due while the client was disconnected.
    pub skipped: u64,
    /// Error replies by code.
    pub errors: BTreeMap<i32, u64>,
}

/// What a worker prints once every client has logged in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ready {
    pub logged_in: u64,
    pub failed: u64,
    pub secs: f64,
}
