//! The delivery checker, in the shape of Jepsen's queue checker.
//!
//! Per recipient and conversation: every acknowledged message of the other members must be
//! present (live or through history sync) exactly once after de-duplication; live pushes
//! must come in sequence order; nothing may arrive that nobody sent to that conversation.
//! Per conversation, an audit of the stored history must show sequence numbers 1..=n with
//! no gap, no number used twice and no message stored twice, holding every acknowledged
//! message.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::record::{Recv, Sent, Stored};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub sent: u64,
    pub acked: u64,
    /// Expected deliveries: acked messages × the other members of their conversation.
    pub expected: u64,
    pub delivered: u64,
    /// An acknowledged message that a member never received.
    pub lost: u64,
    /// Live pushes of a message beyond the first. (History syncs may overlap: a message read
    /// back twice is no duplicate; one stored twice is `stored_twice`.)
    pub duplicated: u64,
    /// A message nobody sent to that conversation, or a live echo to its own sender.
    pub unexpected: u64,
    /// A live push with a lower sequence number than one pushed before it.
    pub reordered: u64,
    /// Audit of stored histories (zero when there was no audit).
    pub audited_convs: u64,
    pub seq_gaps: u64,
    pub seq_dups: u64,
    pub stored_twice: u64,
    /// Acknowledged messages missing from the stored history.
    pub lost_in_store: u64,
    /// Receipts were not recorded (`--no-record`): deliveries were not checked.
    pub unchecked: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.lost_in_store == 0
    }

    /// Nothing wrong at all (tests use it; runs report the counts).
    #[cfg(test)]
    pub fn clean(&self) -> bool {
        let counts = Report {
            sent: self.sent,
            acked: self.acked,
            expected: self.expected,
            delivered: self.delivered,
            audited_convs: self.audited_convs,
            ..Report::default()
        };
        *self == counts
    }

    pub fn brief(&self) -> String {
        if self.unchecked {
            return format!("sent {} acked {}; deliveries not checked (--no-record)", self.sent, self.acked);
        }
        format!(
            "sent {} acked {} expected {} delivered {} | lost {} duplicated {} unexpected {} reordered {} | \
             audited {} convs: gaps {} dup-seqs {} stored-twice {} lost-in-store {}",
            self.sent,
            self.acked,
            self.expected,
            self.delivered,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.reordered,
            self.audited_convs,
            self.seq_gaps,
            self.seq_dups,
            self.stored_twice,
            self.lost_in_store
        )
    }
}

/// A message: `(sender, cseq)`.
type Key = (u32, u32);

/// `members[c]` lists the clients of conversation `c`; `audit[c]`, when given, is its whole
/// stored history.
pub fn check(members: &[Vec<u32>], sent: &[Sent], recv: &[Recv], audit: Option<&[Vec<Stored>]>) -> Report {
    let mut report = Report { sent: sent.len() as u64, ..Report::default() };
    let by_key: HashMap<Key, &Sent> = sent.iter().map(|s| ((s.sender, s.cseq), s)).collect();

    // What each (recipient, conversation) got, counted by way of arrival.
    let mut got: HashMap<(u32, u32), HashMap<Key, (u32, u32)>> = HashMap::new();
    let mut max_seq: HashMap<(u32, u32), u64> = HashMap::new();
    let mut max_cseq: HashMap<(u32, u32, u32), u32> = HashMap::new();
    let member_sets: Vec<HashSet<u32>> = members.iter().map(|m| m.iter().copied().collect()).collect();
    for r in recv {
        let key = (r.sender, r.cseq);
        let known = by_key.get(&key).is_some_and(|s| s.conv == r.conv);
        let member = member_sets.get(r.conv as usize).is_some_and(|m| m.contains(&r.recipient));
        if !known || !member || (r.live && r.sender == r.recipient) {
            report.unexpected += 1;
            continue;
        }
        let counts = got.entry((r.recipient, r.conv)).or_default().entry(key).or_default();
        let count = if r.live { &mut counts.0 } else { &mut counts.1 };
        *count += 1;
        if r.live && *count > 1 {
            report.duplicated += 1;
            continue;
        }
        if r.live {
            if r.seq > 0 {
                let max = max_seq.entry((r.recipient, r.conv)).or_default();
                if r.seq < *max {
                    report.reordered += 1;
                }
                *max = (*max).max(r.seq);
            } else {
                let max = max_cseq.entry((r.recipient, r.conv, r.sender)).or_default();
                if r.cseq < *max {
                    report.reordered += 1;
                }
                *max = (*max).max(r.cseq);
            }
        }
    }

    for s in sent.iter().filter(|s| s.acked) {
        report.acked += 1;
        let Some(conv_members) = members.get(s.conv as usize) else { continue };
        for &m in conv_members.iter().filter(|&&m| m != s.sender) {
            report.expected += 1;
            let received = got.get(&(m, s.conv)).is_some_and(|g| g.contains_key(&(s.sender, s.cseq)));
            if received {
                report.delivered += 1;
            } else {
                report.lost += 1;
            }
        }
    }

    if let Some(audit) = audit {
        audit_store(&mut report, sent, audit);
    }
    report
}

fn audit_store(report: &mut Report, sent: &[Sent], audit: &[Vec<Stored>]) {
    let mut stored_keys: Vec<HashSet<Key>> = Vec::with_capacity(audit.len());
    for history in audit {
        report.audited_convs += 1;
        let mut seqs = HashSet::new();
        let mut keys = HashSet::new();
        for item in history {
            if !seqs.insert(item.seq) {
                report.seq_dups += 1;
            }
            if !keys.insert((item.sender, item.cseq)) {
                report.stored_twice += 1;
            }
        }
        let max = seqs.iter().copied().max().unwrap_or(0);
        report.seq_gaps += (1..=max).filter(|s| !seqs.contains(s)).count() as u64;
        stored_keys.push(keys);
    }
    for s in sent.iter().filter(|s| s.acked) {
        if stored_keys.get(s.conv as usize).is_some_and(|keys| !keys.contains(&(s.sender, s.cseq))) {
            report.lost_in_store += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(sender: u32, cseq: u32, conv: u32, acked: bool) -> Sent {
        Sent { sender, cseq, conv, acked, seq: 0 }
    }

    fn live(recipient: u32, conv: u32, sender: u32, cseq: u32, seq: u64) -> Recv {
        Recv { recipient, conv, sender, cseq, seq, live: true }
    }

    fn stored(seq: u64, sender: u32, cseq: u32) -> Stored {
        Stored { seq, sender, cseq }
    }

    #[test]
    fn a_clean_run_is_clean() {
        let members = vec![vec![0, 1, 2]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, true)];
        let recv = vec![live(1, 0, 0, 0, 1), live(1, 0, 0, 1, 2), live(2, 0, 0, 0, 1), live(2, 0, 0, 1, 2)];
        let audit = vec![vec![stored(1, 0, 0), stored(2, 0, 1)]];
        let r = check(&members, &sent, &recv, Some(&audit));
        assert!(r.clean() && r.ok(), "{r:?}");
        assert_eq!((r.acked, r.expected, r.delivered, r.audited_convs), (2, 4, 4, 1));
    }

    #[test]
    fn a_lost_acknowledged_message_fails_but_an_unacknowledged_one_may_be_missing() {
        let members = vec![vec![0, 1]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, false), sent(0, 2, 0, true)];
        let recv = vec![live(1, 0, 0, 0, 1)];
        let r = check(&members, &sent, &recv, None);
        assert_eq!((r.lost, r.acked, r.sent), (1, 2, 3));
        assert!(!r.ok());
    }

    #[test]
    fn history_makes_up_for_a_missed_push_and_overlap_is_no_duplicate() {
        let members = vec![vec![0, 1]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, true)];
        let mut hist = live(1, 0, 0, 1, 2);
        hist.live = false;
        let mut overlap = live(1, 0, 0, 0, 1);
        overlap.live = false;
        let recv = vec![live(1, 0, 0, 0, 1), overlap, hist];
        let r = check(&members, &sent, &recv, None);
        assert!(r.clean(), "{r:?}");
    }

    #[test]
    fn duplicates_reorders_and_strangers_are_counted() {
        let members = vec![vec![0, 1], vec![2, 3]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, true), sent(2, 0, 1, true)];
        let recv = vec![
            live(1, 0, 0, 1, 2),
            live(1, 0, 0, 0, 1), // reordered
            live(1, 0, 0, 0, 1), // duplicated
            live(1, 0, 9, 9, 3), // nobody sent it
            live(1, 0, 2, 0, 1), // sent to another conversation
            live(0, 0, 0, 0, 1), // echoed to its sender
            live(3, 1, 2, 0, 1),
        ];
        let r = check(&members, &sent, &recv, None);
        assert_eq!((r.reordered, r.duplicated, r.unexpected, r.lost), (1, 1, 3, 0), "{r:?}");
    }

    #[test]
    fn without_sequence_numbers_order_is_checked_per_sender() {
        let members = vec![vec![0, 1, 2]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, true), sent(2, 0, 0, true)];
        let recv = vec![live(1, 0, 2, 0, 0), live(1, 0, 0, 1, 0), live(1, 0, 0, 0, 0)];
        let r = check(&members, &sent, &recv, None);
        assert_eq!(r.reordered, 1, "{r:?}");
    }

    #[test]
    fn the_audit_finds_gaps_reused_numbers_double_stores_and_missing_messages() {
        let members = vec![vec![0, 1]];
        let sent = vec![sent(0, 0, 0, true), sent(0, 1, 0, true), sent(0, 2, 0, true), sent(0, 3, 0, true)];
        let audit = vec![vec![stored(1, 0, 0), stored(3, 0, 1), stored(3, 0, 2), stored(4, 0, 2)]];
        let mut recv: Vec<Recv> = (0..4).map(|c| live(1, 0, 0, c, 0)).collect();
        recv.iter_mut().for_each(|r| r.live = false);
        let r = check(&members, &sent, &recv, Some(&audit));
        assert_eq!((r.seq_gaps, r.seq_dups, r.stored_twice, r.lost_in_store), (1, 1, 1, 1), "{r:?}");
        assert!(!r.ok());
    }
}
