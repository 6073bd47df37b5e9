//! A worker process: `loadtest worker` reads its [`Plan`] as one JSON line on stdin, logs
//! its clients in (paced), prints `ready {json}`, waits for `go <unix ns>`, runs every
//! client on one current-thread runtime until each has stopped sending and has every
//! reply, prints `settled`, waits for `sync` (every worker has settled, so every
//! acknowledged message is stored), lets the clients sync their history, writes a
//! [`WorkerResult`] file and prints `done`.
//! Several workers let one run hold more sockets than one process may open.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::Client;
use crate::plan::{Plan, Ready, StepResult, WorkerResult};
use crate::record::{Recv, Sent};
use crate::stats;

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

struct StepHists {
    ack: Histogram<u64>,
    recv: Histogram<u64>,
    counts: StepResult,
}

/// What the clients of one worker share (single-threaded: `Rc` and `Cell` suffice).
pub struct Ctx {
    pub plan: Plan,
    pub conv_of: HashMap<String, u32>,
    go: Cell<Option<(i64, Instant)>>,
    go_set: Notify,
    settled: Cell<u64>,
    all_settled: Notify,
    sync: Cell<bool>,
    sync_set: Notify,
    logins: Cell<(u64, u64)>,
    logins_done: Notify,
    steps: RefCell<Vec<StepHists>>,
    login: RefCell<Histogram<u64>>,
    catchup: RefCell<Histogram<u64>>,
    result: RefCell<WorkerResult>,
}

impl Ctx {
    fn new(plan: Plan) -> Ctx {
        let conv_of = plan.cids.iter().enumerate().map(|(n, cid)| (cid.clone(), n as u32)).collect();
        let steps = (0..plan.steps.max(1))
            .map(|_| StepHists { ack: stats::histogram(), recv: stats::histogram(), counts: StepResult::default() })
            .collect();
        Ctx {
            plan,
            conv_of,
            go: Cell::new(None),
            go_set: Notify::new(),
            settled: Cell::new(0),
            all_settled: Notify::new(),
            sync: Cell::new(false),
            sync_set: Notify::new(),
            logins: Cell::new((0, 0)),
            logins_done: Notify::new(),
            steps: RefCell::new(steps),
            login: RefCell::new(stats::histogram()),
            catchup: RefCell::new(stats::histogram()),
            result: RefCell::default(),
        }
    }

    pub fn login_finished(&self, ok: bool, ns: i64) {
        let (good, bad) = self.logins.get();
        self.logins.set(if ok { (good + 1, bad) } else { (good, bad + 1) });
        if ok {
            stats::record_ns(&mut self.login.borrow_mut(), ns);
        }
        if good + bad + 1 >= self.plan.clients.len() as u64 {
            self.logins_done.notify_one();
        }
    }

    pub async fn wait_go(&self) -> (i64, Instant) {
        loop {
            let notified = self.go_set.notified();
            if let Some(go) = self.go.get() {
                return go;
            }
            notified.await;
        }
    }

    /// A client has stopped sending and has every reply.
    pub fn settled(&self) {
        self.settled.set(self.settled.get() + 1);
        if self.settled.get() >= self.logins.get().0 {
            self.all_settled.notify_one();
        }
    }

    /// Resolves once every client of every worker has settled.
    pub async fn wait_sync(&self) {
        loop {
            let notified = self.sync_set.notified();
            if self.sync.get() {
                return;
            }
            notified.await;
        }
    }

    fn step(&self, step: u16, f: impl FnOnce(&mut StepHists)) {
        if let Some(s) = self.steps.borrow_mut().get_mut(step as usize) {
            f(s);
        }
    }

    pub fn sent(&self, step: u16, intended_ns: i64) {
        self.step(step, |s| {
            s.counts.sent += 1;
            if s.counts.first_send_ns == 0 || intended_ns < s.counts.first_send_ns {
                s.counts.first_send_ns = intended_ns;
            }
        });
    }

    pub fn acked(&self, step: u16, intended_ns: i64) {
        let now = now_ns();
        self.step(step, |s| {
            s.counts.acked += 1;
            s.counts.last_ack_ns = s.counts.last_ack_ns.max(now);
            stats::record_ns(&mut s.ack, now - intended_ns);
        });
    }

    pub fn delivered(&self, step: u16, intended_ns: i64) {
        let now = now_ns();
        self.step(step, |s| {
            s.counts.delivered += 1;
            s.counts.last_recv_ns = s.counts.last_recv_ns.max(now);
            stats::record_ns(&mut s.recv, now - intended_ns);
        });
    }

    pub fn caught_up(&self, intended_ns: i64) {
        let now = now_ns();
        stats::record_ns(&mut self.catchup.borrow_mut(), now - intended_ns);
        let mut result = self.result.borrow_mut();
        result.last_catchup_ns = result.last_catchup_ns.max(now);
    }

    pub fn note_error(&self, code: i32, what: &str) {
        let mut result = self.result.borrow_mut();
        let count = result.errors.entry(code).or_default();
        if *count == 0 {
            eprintln!("loadtest worker: first error {code}: {what}");
        }
        *count += 1;
    }

    pub fn disconnected(&self) {
        self.result.borrow_mut().disconnects += 1;
    }

    pub fn reconnected(&self) {
        self.result.borrow_mut().reconnects += 1;
    }

    pub fn skipped(&self, n: u64) {
        self.result.borrow_mut().skipped += n;
    }

    pub fn finished(&self, sent: Vec<Sent>, recv: Vec<Recv>) {
        let mut result = self.result.borrow_mut();
        result.sent.extend(sent);
        result.recv.extend(recv);
    }

    fn into_result(self) -> WorkerResult {
        let mut result = self.result.into_inner();
        result.steps = self
            .steps
            .into_inner()
            .into_iter()
            .map(|s| StepResult { ack: stats::to_bytes(&s.ack), recv: stats::to_bytes(&s.recv), ..s.counts })
            .collect();
        result.login = stats::to_bytes(&self.login.into_inner());
        result.catchup = stats::to_bytes(&self.catchup.into_inner());
        result.login_failures = self.logins.get().1;
        result
    }
}

pub fn main() -> ExitCode {
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    if stdin.read_line(&mut line).is_err() {
        return ExitCode::FAILURE;
    }
    let plan: Plan = match serde_json::from_str(&line) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("loadtest worker: bad plan: {err}");
            return ExitCode::FAILURE;
        }
    };
    drop(stdin);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run(plan))
}

async fn run(plan: Plan) -> ExitCode {
    let out = plan.out.clone();
    let clients = plan.clients.clone();
    let gap = if plan.login_rate > 0.0 { Duration::from_secs_f64(1.0 / plan.login_rate) } else { Duration::ZERO };
    let ctx = Rc::new(Ctx::new(plan));
    let started = Instant::now();
    let logins_done = ctx.logins_done.notified();
    let mut tasks = Vec::with_capacity(clients.len());
    for (n, client) in clients.into_iter().enumerate() {
        if !gap.is_zero() {
            tokio::time::sleep_until(started + gap * n as u32).await;
        }
        tasks.push(tokio::task::spawn_local(Client::new(ctx.clone(), client).run()));
    }
    if tasks.is_empty() {
        drop(logins_done);
    } else {
        logins_done.await;
    }
    let (logged_in, failed) = ctx.logins.get();
    let ready = Ready { logged_in, failed, secs: started.elapsed().as_secs_f64() };
    println!("ready {}", serde_json::to_string(&ready).expect("serializable"));

    let go_line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await;
    let Some(go_ns) = go_line.ok().and_then(|l| l.ok()).and_then(|l| l.trim().strip_prefix("go ")?.parse::<i64>().ok())
    else {
        eprintln!("loadtest worker: expected `go <unix ns>`");
        return ExitCode::FAILURE;
    };
    let wait = Duration::from_nanos(go_ns.saturating_sub(now_ns()).max(0) as u64);
    ctx.go.set(Some((go_ns, Instant::now() + wait)));
    ctx.go_set.notify_waiters();
    if logged_in > 0 {
        ctx.all_settled.notified().await;
    }
    println!("settled");
    let sync_line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await;
    if !matches!(sync_line, Ok(Ok(ref l)) if l.trim() == "sync") {
        eprintln!("loadtest worker: expected `sync`");
        return ExitCode::FAILURE;
    }
    ctx.sync.set(true);
    ctx.sync_set.notify_waiters();
    for task in tasks {
        let _ = task.await;
    }
    let Ok(ctx) = Rc::try_unwrap(ctx) else {
        eprintln!("loadtest worker: a client outlived its task");
        return ExitCode::FAILURE;
    };
    let result = ctx.into_result();
    let bytes = rmp_serde::to_vec(&result).expect("serializable");
    if let Err(err) = std::fs::write(&out, bytes) {
        eprintln!("loadtest worker: cannot write {}: {err}", out.display());
        return ExitCode::FAILURE;
    }
    println!("done");
    ExitCode::SUCCESS
}
