//! What every generated client saw: the messages it sent (and whether they were
//! acknowledged) and the messages it received, live or through history sync. The checker
//! reads these; workers write them to a file for the coordinator.

use serde::{Deserialize, Serialize};

/// A message a client sent. `cseq` is the client's own counter, unique per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub sender: u32,
    pub cseq: u32,
    pub conv: u32,
    pub acked: bool,
    /// The conversation sequence number the server gave it (0 when unknown).
    pub seq: u64,
}

/// A message a client received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recv {
    pub recipient: u32,
    pub conv: u32,
    pub sender: u32,
    pub cseq: u32,
    pub seq: u64,
    /// Pushed live (true) or read back from history (false).
    pub live: bool,
}

/// One message of a conversation's stored history, as an auditor read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub seq: u64,
    pub sender: u32,
    pub cseq: u32,
}

/// The text a generated message carries: `lt|conv|sender|cseq|step|send_ns|padding`.
/// `send_ns` is the intended send time (Unix ns), so receive latency counts from the
/// schedule, not from when the client got around to sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub conv: u32,
    pub sender: u32,
    pub cseq: u32,
    pub step: u16,
    pub send_ns: i64,
}

impl Payload {
    pub fn encode(&self, size: usize) -> String {
        let mut text = format!("lt|{}|{}|{}|{}|{}|", self.conv, self.sender, self.cseq, self.step, self.send_ns);
        while text.len() < size {
            text.push('x');
        }
        text
    }

    pub fn decode(text: &str) -> Option<Payload> {
        let mut parts = text.split('|');
        if parts.next()? != "lt" {
            return None;
        }
        let mut next = || parts.next()?.parse::<i64>().ok();
        Some(Payload {
            conv: u32::try_from(next()?).ok()?,
            sender: u32::try_from(next()?).ok()?,
            cseq: u32::try_from(next()?).ok()?,
            step: u16::try_from(next()?).ok()?,
            send_ns: next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_pads() {
        let p = Payload { conv: 3, sender: 17, cseq: 99, step: 2, send_ns: 1_700_000_000_123_456_789 };
        let text = p.encode(100);
        assert_eq!(text.len(), 100);
        assert_eq!(Payload::decode(&text), Some(p));
        assert_eq!(Payload::decode(&p.encode(0)), Some(p));
        assert_eq!(Payload::decode("hello"), None);
        assert_eq!(Payload::decode("lt|1|2"), None);
    }
}
