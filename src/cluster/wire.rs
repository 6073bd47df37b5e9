//! What nodes send each other: batches of [`Item`]s, MessagePack-encoded (rmp-serde, with
//! field names, so a node of a newer build can add fields an older one ignores), carried by
//! one ractor_cluster message to the receiving node's router ([`super::router`]).
//!
//! Client commands inside an item (a `direct`, a `conv` command) travel as their protobuf
//! encoding, as they came from the client. Frames (answers, pushes) travel encoded once, as
//! the socket will send them.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::conversation::{BlacklistReq, ConvOp, ConvReq, DirectReq, MembersReq};
use crate::delivery::Reply;
use crate::protocol::OpType;

/// One network message between two nodes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    /// The sending node's id.
    pub from: u64,
    pub items: Vec<Item>,
}

/// One thing for the receiving node to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Item {
    /// The sender's WebSocket URL for clients (sent first on every link, and when known).
    Hello { ws_url: String },
    /// Nothing else to send lately: the sender is alive.
    Beat,
    /// `client` logged in on the sending node.
    Online { client: String, session: u64, tag: Option<String>, device: String, opened_ms: i64 },
    /// That session ended.
    Offline { client: String, session: u64 },
    /// An operation for conversation `cid`, which the sender believes the receiver owns.
    Op(Box<Forward>),
    /// The answer to request `id` that this node forwarded, encoded with the request's `i`.
    Answer { id: u64, frame: Bytes },
    /// The app kicked `client` at `at_ms`: end its sessions opened until then (4115).
    Kick { client: String, at_ms: i64, reason: Option<String> },
    /// A push for the receiver's sessions of `clients`, except `skip`.
    Push { clients: Vec<Arc<str>>, skip: Option<u64>, frame: Bytes },
}

/// A conversation operation forwarded to its owner.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forward {
    /// The node whose session asked, which gets the answer.
    pub origin: u64,
    /// The number `origin` gave the request (0: no answer is expected).
    pub id: u64,
    /// The session that asked, and the request's `i`.
    pub session: u64,
    pub i: Option<i32>,
    pub cid: String,
    pub op: WireOp,
    /// How many nodes passed it on already (a node whose view of the members differs
    /// passes it on once, then runs it).
    pub hops: u8,
    /// A receipt: run it only if the conversation's actor runs, or the sender is a member.
    pub cold: bool,
}

/// A [`ConvOp`] without its reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireOp {
    Direct { from: String, msg: Bytes },
    Ack { from: String, mid: Option<String>, tots: Option<i64> },
    Read { from: String, mid: Option<String>, ts: Option<i64> },
    Members { from: String, add: bool, conv: Bytes },
    Blacklist { from: String, op: i32, msg: Bytes },
    Conv { from: String, op: i32, conv: Bytes },
}

impl Batch {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("a batch always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Batch, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

impl Item {
    /// About how many bytes it takes on the wire (to cut batches and bound queues).
    pub fn weight(&self) -> usize {
        64 + match self {
            Item::Op(forward) => match &forward.op {
                WireOp::Direct { msg, .. } => msg.len(),
                WireOp::Members { conv, .. } | WireOp::Conv { conv, .. } => conv.len(),
                WireOp::Blacklist { msg, .. } => msg.len(),
                WireOp::Ack { .. } | WireOp::Read { .. } => 64,
            },
            Item::Answer { frame, .. } => frame.len(),
            Item::Push { clients, frame, .. } => frame.len() + clients.iter().map(|c| c.len() + 2).sum::<usize>(),
            Item::Online { client, device, .. } => client.len() + device.len(),
            Item::Offline { client, .. } => client.len(),
            Item::Hello { ws_url } => ws_url.len(),
            Item::Beat => 0,
            Item::Kick { client, reason, .. } => client.len() + reason.as_ref().map_or(0, String::len),
        }
    }
}

/// Takes an operation apart for the wire: what crosses, the reply that stays (if it has
/// one), and the session it came from.
pub fn split(op: ConvOp) -> (WireOp, Option<Reply>, u64) {
    match op {
        ConvOp::Direct(req) => {
            let DirectReq { from, session, reply, msg } = *req;
            (WireOp::Direct { from: from.to_string(), msg: msg.encode_to_vec().into() }, Some(reply), session)
        }
        ConvOp::Ack { from, mid, tots } => (WireOp::Ack { from: from.to_string(), mid, tots }, None, 0),
        ConvOp::Read { from, session, mid, ts } => (WireOp::Read { from: from.to_string(), mid, ts }, None, session),
        ConvOp::Members(req) => {
            let MembersReq { from, reply, add, conv } = *req;
            let session = reply.addr.session;
            (WireOp::Members { from: from.to_string(), add, conv: conv.encode_to_vec().into() }, Some(reply), session)
        }
        ConvOp::Blacklist(req) => {
            let BlacklistReq { from, reply, op, msg } = *req;
            let session = reply.addr.session;
            let wire = WireOp::Blacklist { from: from.to_string(), op: op as i32, msg: msg.encode_to_vec().into() };
            (wire, Some(reply), session)
        }
        ConvOp::Conv(req) => {
            let ConvReq { from, reply, op, conv } = *req;
            let session = reply.addr.session;
            let wire = WireOp::Conv { from: from.to_string(), op: op as i32, conv: conv.encode_to_vec().into() };
            (wire, Some(reply), session)
        }
    }
}

/// Puts an operation back together on the receiving node, with `reply` as its reply.
/// Fails on a command that does not decode (then nothing took `reply`: the caller answers).
pub fn join(op: WireOp, session: u64, reply: impl FnOnce() -> Reply) -> Result<ConvOp, String> {
    fn decode<T: prost::Message + Default>(bytes: &Bytes) -> Result<T, String> {
        T::decode(bytes.clone()).map_err(|err| format!("a forwarded command does not decode: {err}"))
    }
    fn op_type(op: i32) -> Result<OpType, String> {
        OpType::try_from(op).map_err(|_| format!("a forwarded command has an unknown op {op}"))
    }
    Ok(match op {
        WireOp::Direct { from, msg } => {
            let msg = decode(&msg)?;
            ConvOp::Direct(Box::new(DirectReq { from: from.into(), session, reply: reply(), msg }))
        }
        WireOp::Ack { from, mid, tots } => ConvOp::Ack { from: from.into(), mid, tots },
        WireOp::Read { from, mid, ts } => ConvOp::Read { from: from.into(), session, mid, ts },
        WireOp::Members { from, add, conv } => {
            let conv = decode(&conv)?;
            ConvOp::Members(Box::new(MembersReq { from: from.into(), reply: reply(), add, conv }))
        }
        WireOp::Blacklist { from, op, msg } => {
            let (op, msg) = (op_type(op)?, decode(&msg)?);
            ConvOp::Blacklist(Box::new(BlacklistReq { from: from.into(), reply: reply(), op, msg }))
        }
        WireOp::Conv { from, op, conv } => {
            let (op, conv) = (op_type(op)?, decode(&conv)?);
            ConvOp::Conv(Box::new(ConvReq { from: Arc::from(from), reply: reply(), op, conv }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_survives_the_wire_and_garbage_does_not_decode() {
        let batch = Batch {
            from: 7,
            items: vec![
                Item::Online { client: "alice".into(), session: 9, tag: None, device: "d".into(), opened_ms: 1 },
                Item::Push { clients: vec!["bob".into()], skip: Some(9), frame: Bytes::from_static(b"\x08\x01") },
            ],
        };
        let back = Batch::decode(&batch.encode()).unwrap();
        assert_eq!(back.from, 7);
        assert!(matches!(&back.items[1], Item::Push { frame, skip: Some(9), .. } if &frame[..] == b"\x08\x01"));
        assert!(Batch::decode(b"\x93\x01\x02").is_err());
        assert!(Batch::decode(b"").is_err());
    }
}
