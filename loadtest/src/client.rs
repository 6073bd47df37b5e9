//! One generated client inside a worker: logs in, waits for the common start, then follows
//! its plan (sends on an open-loop schedule, drops and comes back, reconnects after a
//! crash, syncs history) while recording everything for the checker.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, sleep_until};
use xinshi::protocol::{CommandType, GenericCommand, LogItem, OpType};

use crate::plan::{ClientPlan, Segment};
use crate::record::{Payload, Recv, Sent};
use crate::wire::{self, Ws};
use crate::worker::{Ctx, now_ns};

/// How long a reply may take before the client counts the connection as broken.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
const PAGE: i32 = 100;

/// The messages of one conversation a client holds, by sequence number. A sync starts
/// after the last message of the unbroken run from the start (`anchor`), not after the
/// newest one: a live push can overtake messages that a sync cut short by a crash never
/// fetched, and starting after it would skip them for good.
#[derive(Debug, Default)]
struct Seen {
    /// Every message up to this seq is held.
    upto: u64,
    /// Id and timestamp of message `upto`.
    anchor: Option<(String, i64)>,
    /// Held messages after a gap.
    ahead: BTreeMap<u64, (String, i64)>,
}

impl Seen {
    fn add(&mut self, seq: u64, mid: String, ts: i64) {
        if seq <= self.upto {
            return;
        }
        self.ahead.insert(seq, (mid, ts));
        while let Some(next) = self.ahead.remove(&(self.upto + 1)) {
            self.upto += 1;
            self.anchor = Some(next);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining,
    Settled,
}

struct Pending {
    cseq: u32,
    step: u16,
    intended_ns: i64,
}

/// Merges the send segments (they may overlap: one client can send to several
/// conversations at once) into one stream in time order.
struct Schedule {
    segments: Vec<Segment>,
    /// Messages already taken from each segment.
    taken: Vec<u32>,
}

impl Schedule {
    fn new(mut segments: Vec<Segment>) -> Schedule {
        segments.retain(|s| s.count > 0 && s.rate > 0.0);
        let taken = vec![0; segments.len()];
        Schedule { segments, taken }
    }

    fn next_of(&self, n: usize) -> Option<f64> {
        let s = &self.segments[n];
        (self.taken[n] < s.count).then(|| s.start + f64::from(self.taken[n]) / s.rate)
    }

    fn earliest(&self) -> Option<(usize, f64)> {
        (0..self.segments.len()).filter_map(|n| Some((n, self.next_of(n)?))).min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// `(offset secs, conv, step)` of the next send.
    fn peek(&self) -> Option<(f64, u32, u16)> {
        let (n, at) = self.earliest()?;
        Some((at, self.segments[n].conv, self.segments[n].step))
    }

    fn advance(&mut self) {
        if let Some((n, _)) = self.earliest() {
            self.taken[n] += 1;
        }
    }
}

pub struct Client {
    ctx: Rc<Ctx>,
    plan: ClientPlan,
    id: String,
    ws: Option<Ws>,
    next_i: i32,
    pending: HashMap<i32, Pending>,
    sent: Vec<Sent>,
    recv: Vec<Recv>,
    /// What this client holds of each conversation: where a history sync starts.
    seen: HashMap<u32, Seen>,
    /// Conversations with news not yet receive-acked.
    unacked: Vec<u32>,
    /// Login attempts that failed so far (each moves to the next node of a cluster).
    failed_logins: usize,
}

impl Client {
    pub fn new(ctx: Rc<Ctx>, plan: ClientPlan) -> Client {
        let id = ctx.plan.client_id(plan.index);
        Client {
            ctx,
            plan,
            id,
            ws: None,
            next_i: 0,
            pending: HashMap::new(),
            sent: Vec::new(),
            recv: Vec::new(),
            seen: HashMap::new(),
            unacked: Vec::new(),
            failed_logins: 0,
        }
    }

    pub async fn run(mut self) {
        let started = now_ns();
        let mut logged_in = false;
        for _ in 0..3 {
            if self.login(false).await.is_ok() {
                logged_in = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.ctx.login_finished(logged_in, now_ns() - started);
        if !logged_in {
            return;
        }
        let (go_ns, go_at) = self.ctx.wait_go().await;
        let at = |secs: f64| go_at + Duration::from_secs_f64(secs.max(0.0));
        let end = at(self.ctx.plan.end_at);
        let mut schedule = Schedule::new(std::mem::take(&mut self.plan.sends));
        let mut drop_at = self.plan.drop_at.map(at);
        let mut back_at = self.plan.back_at.map(at);
        // Receive-acks once a second, each client at its own phase.
        let first_ack = go_at + Duration::from_secs_f64(1.0 + crate::run::phase(self.plan.index));
        let mut ack_tick = tokio::time::interval_at(first_ack, Duration::from_secs(1));
        let receive_acks = self.ctx.plan.receive_acks;
        // Running until `end`; then draining (no more sends) until every send is answered;
        // then settled until every client of every worker is, when the final sync starts.
        let mut phase = Phase::Running;
        let ctx = self.ctx.clone();
        let sync_go = ctx.wait_sync();
        tokio::pin!(sync_go);

        loop {
            if phase == Phase::Draining && self.pending.is_empty() {
                phase = Phase::Settled;
                self.ctx.settled();
            }
            let running = phase == Phase::Running;
            let next_send = schedule.peek().map(|(secs, _, _)| at(secs)).filter(|_| running);
            tokio::select! {
                biased;
                _ = sleep_until(end), if running => phase = Phase::Draining,
                _ = sleep_until(end + REPLY_TIMEOUT), if phase == Phase::Draining => self.pending.clear(),
                _ = &mut sync_go, if phase == Phase::Settled => break,
                frame = next_frame(&mut self.ws) => match frame {
                    Some(cmd) => self.handle(cmd),
                    None => {
                        self.disconnected();
                        if self.plan.auto_reconnect && running {
                            let lost_at = now_ns();
                            if self.reconnect(end).await && self.sync_all().await.is_ok() {
                                // Lost → logged in again (here, or on another node) and synced.
                                self.ctx.caught_up(lost_at);
                            }
                            self.skip_past(&mut schedule, go_at);
                        }
                    }
                },
                _ = sleep_opt(drop_at), if drop_at.is_some() && running => {
                    drop_at = None;
                    self.ws = None;
                    self.pending.clear();
                }
                _ = sleep_opt(back_at), if back_at.is_some() && drop_at.is_none() && running => {
                    let intended = go_ns + (self.plan.back_at.unwrap_or(0.0) * 1e9) as i64;
                    back_at = None;
                    if self.reconnect(end).await && self.sync_all().await.is_ok() {
                        self.ctx.caught_up(intended);
                    }
                    self.skip_past(&mut schedule, go_at);
                }
                _ = sleep_opt(next_send), if next_send.is_some() => self.send_due(&mut schedule, go_ns, go_at).await,
                _ = ack_tick.tick(), if receive_acks => self.send_receive_acks().await,
            }
        }

        if self.ctx.plan.final_sync {
            if self.ws.is_none() {
                self.reconnect(Instant::now() + REPLY_TIMEOUT).await;
            }
            let _ = self.sync_all().await;
        }
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
        self.ctx.finished(std::mem::take(&mut self.sent), std::mem::take(&mut self.recv));
    }

    fn next_i(&mut self) -> i32 {
        self.next_i = self.next_i.wrapping_add(1).max(1);
        self.next_i
    }

    /// Connects and opens the session; the socket is kept only if that worked.
    async fn login(&mut self, reconnect: bool) -> Result<(), ()> {
        let source = wire::source_ip(self.plan.index, self.ctx.plan.ips);
        let servers = &self.ctx.plan.servers;
        let server = servers[(self.plan.index as usize + self.failed_logins) % servers.len()];
        let ws = match wire::connect(server, source, REPLY_TIMEOUT).await {
            Ok(ws) => ws,
            Err(err) => {
                self.failed_logins += 1;
                self.ctx.note_error(0, &err);
                return Err(());
            }
        };
        self.ws = Some(ws);
        let i = self.next_i();
        let open = wire::open(&self.ctx.plan.app_id, &self.id, i, reconnect);
        let Ok(reply) = self.request(&open).await else {
            self.failed_logins += 1;
            return Err(());
        };
        if reply.op == Some(OpType::Opened as i32) {
            return Ok(());
        }
        self.ctx.note_error(wire::error_code(&reply).unwrap_or(-1), "session open refused");
        self.failed_logins += 1;
        self.ws = None;
        Err(())
    }

    /// Keeps trying to log in again until it works or `deadline` passes.
    async fn reconnect(&mut self, deadline: Instant) -> bool {
        let mut backoff = Duration::from_millis(20);
        while Instant::now() < deadline {
            if self.login(true).await.is_ok() {
                self.ctx.reconnected();
                return true;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        false
    }

    fn disconnected(&mut self) {
        self.ws = None;
        self.pending.clear();
        self.ctx.disconnected();
    }

    /// Sends missed while away are not sent late: they count as skipped.
    fn skip_past(&self, schedule: &mut Schedule, go_at: Instant) {
        let now = Instant::now();
        let mut skipped = 0;
        while let Some((secs, _, _)) = schedule.peek() {
            if go_at + Duration::from_secs_f64(secs.max(0.0)) > now {
                break;
            }
            schedule.advance();
            skipped += 1;
        }
        self.ctx.skipped(skipped);
    }

    /// Sends a request and waits for its reply, handling whatever else arrives meanwhile.
    async fn request(&mut self, cmd: &GenericCommand) -> Result<GenericCommand, ()> {
        let i = cmd.i.expect("requests carry i");
        let ws = self.ws.as_mut().ok_or(())?;
        if ws.send(wire::binary(cmd)).await.is_err() {
            self.disconnected();
            return Err(());
        }
        loop {
            let ws = self.ws.as_mut().ok_or(())?;
            let cmd = match tokio::time::timeout(REPLY_TIMEOUT, ws.next()).await {
                Ok(Some(Ok(msg))) => match wire::decode(&msg) {
                    Some(cmd) => cmd,
                    None => continue,
                },
                _ => {
                    self.disconnected();
                    return Err(());
                }
            };
            if cmd.i == Some(i) {
                return Ok(cmd);
            }
            self.handle(cmd);
        }
    }

    /// Sends every message whose time has come (a late client sends them back to back; their
    /// latency still counts from the schedule).
    async fn send_due(&mut self, schedule: &mut Schedule, go_ns: i64, go_at: Instant) {
        let now = Instant::now();
        let Some(mut ws) = self.ws.take() else {
            return self.skip_past(schedule, go_at);
        };
        let mut failed = false;
        while let Some((secs, conv, step)) = schedule.peek() {
            if go_at + Duration::from_secs_f64(secs.max(0.0)) > now {
                break;
            }
            schedule.advance();
            let cseq = self.sent.len() as u32;
            let intended_ns = go_ns + (secs * 1e9) as i64;
            let payload = Payload { conv, sender: self.plan.index, cseq, step, send_ns: intended_ns };
            let i = self.next_i();
            let cmd = wire::direct(&self.ctx.plan.cids[conv as usize], payload.encode(self.ctx.plan.payload_bytes), i);
            self.sent.push(Sent { sender: self.plan.index, cseq, conv, acked: false, seq: 0 });
            self.pending.insert(i, Pending { cseq, step, intended_ns });
            self.ctx.sent(step, intended_ns);
            if ws.feed(wire::binary(&cmd)).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || ws.flush().await.is_err() {
            self.disconnected();
        } else {
            self.ws = Some(ws);
        }
    }

    async fn send_receive_acks(&mut self) {
        let Some(mut ws) = self.ws.take() else { return };
        let mut ok = true;
        for conv in std::mem::take(&mut self.unacked) {
            if let Some((mid, t)) = self.seen.get(&conv).and_then(|s| s.anchor.as_ref()) {
                let cmd = wire::receive_ack(&self.ctx.plan.cids[conv as usize], mid, *t);
                ok &= ws.feed(wire::binary(&cmd)).await.is_ok();
            }
        }
        if ok && ws.flush().await.is_ok() {
            self.ws = Some(ws);
        } else {
            self.disconnected();
        }
    }

    fn handle(&mut self, cmd: GenericCommand) {
        if let Some(i) = cmd.i {
            let Some(pending) = self.pending.remove(&i) else { return };
            match (cmd.cmd == Some(CommandType::Ack as i32), wire::error_code(&cmd)) {
                (true, None) => {
                    let ack = cmd.ack_message.unwrap_or_default();
                    let uid = ack.uid.unwrap_or_default();
                    let sent = &mut self.sent[pending.cseq as usize];
                    sent.acked = true;
                    sent.seq = xinshi::ids::message_seq(&uid).unwrap_or(0);
                    // One's own message is part of the conversation one holds.
                    let (conv, seq) = (sent.conv, sent.seq);
                    self.seen.entry(conv).or_default().add(seq, uid, ack.t.unwrap_or(0));
                    self.ctx.acked(pending.step, pending.intended_ns);
                }
                (_, code) => self.ctx.note_error(code.unwrap_or(-1), "send refused"),
            }
            return;
        }
        if cmd.cmd != Some(CommandType::Direct as i32) {
            return;
        }
        let Some(direct) = cmd.direct_message else { return };
        let (Some(cid), Some(id), Some(text)) = (direct.cid, direct.id, direct.msg) else { return };
        let timestamp = direct.timestamp.unwrap_or(0);
        self.received(&cid, id, timestamp, &text, true);
    }

    fn received(&mut self, cid: &str, id: String, timestamp: i64, text: &str, live: bool) {
        let conv = self.ctx.conv_of.get(cid).copied();
        let seq = xinshi::ids::message_seq(&id).unwrap_or(0);
        let payload = Payload::decode(text);
        if live && let Some(p) = payload {
            self.ctx.delivered(p.step, p.send_ns);
        }
        if self.ctx.plan.record {
            let (sender, cseq, claimed) = payload.map_or((u32::MAX, 0, u32::MAX), |p| (p.sender, p.cseq, p.conv));
            // A message whose payload names another conversation than it came in is unexpected.
            let conv_index = conv.filter(|&c| c == claimed).unwrap_or(u32::MAX);
            self.recv.push(Recv { recipient: self.plan.index, conv: conv_index, sender, cseq, seq, live });
        }
        if let Some(conv) = conv {
            self.seen.entry(conv).or_default().add(seq, id, timestamp);
            if live && !self.unacked.contains(&conv) {
                self.unacked.push(conv);
            }
        }
    }

    /// Reads every conversation's history from the newest message already seen. The cursor
    /// is its own: live pushes arriving meanwhile must not make it skip ahead.
    async fn sync_all(&mut self) -> Result<(), ()> {
        for conv in self.plan.convs.clone() {
            let mut cursor = self.seen.get(&conv).and_then(|s| s.anchor.clone());
            loop {
                let i = self.next_i();
                let cid = self.ctx.plan.cids[conv as usize].clone();
                let cmd = wire::logs_after(None, &cid, cursor.as_ref(), PAGE, i);
                let reply = self.request(&cmd).await?;
                let logs: Vec<LogItem> = reply.logs_message.map(|l| l.logs).unwrap_or_default();
                let full = logs.len() >= PAGE as usize;
                for item in logs {
                    let (Some(id), Some(text)) = (item.msg_id, item.data) else { continue };
                    let t = item.timestamp.unwrap_or(0);
                    cursor = Some((id.clone(), t));
                    self.received(&cid, id, t, &text, false);
                }
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }
}

async fn next_frame(ws: &mut Option<Ws>) -> Option<GenericCommand> {
    let Some(ws) = ws.as_mut() else { return std::future::pending().await };
    loop {
        match ws.next().await {
            Some(Ok(msg)) => {
                if let Some(cmd) = wire::decode(&msg) {
                    return Some(cmd);
                }
                if msg.is_close() {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_starts_after_the_unbroken_run_not_after_the_newest_message() {
        let mut seen = Seen::default();
        seen.add(1, "m1".into(), 10);
        seen.add(3, "m3".into(), 30);
        assert_eq!((seen.upto, seen.anchor.clone()), (1, Some(("m1".into(), 10))), "3 came before 2");
        seen.add(2, "m2".into(), 20);
        assert_eq!((seen.upto, seen.anchor.clone()), (3, Some(("m3".into(), 30))));
        seen.add(2, "m2".into(), 20);
        assert_eq!(seen.upto, 3, "seen twice changes nothing");
    }

    #[test]
    fn overlapping_segments_interleave_in_time_order() {
        let seg = |conv, start, rate, count| Segment { conv, step: 0, start, rate, count };
        let mut schedule = Schedule::new(vec![seg(0, 0.0, 1.0, 3), seg(1, 0.5, 1.0, 2), seg(2, 9.0, 0.0, 5)]);
        let mut order = Vec::new();
        while let Some((at, conv, _)) = schedule.peek() {
            order.push((at, conv));
            schedule.advance();
        }
        assert_eq!(order, vec![(0.0, 0), (0.5, 1), (1.0, 0), (1.5, 1), (2.0, 0)]);
    }
}
