//! What every workload shares on the coordinator side: the common flags, starting the
//! target server, running a fleet of workers over a set of client plans, and merging what
//! they report.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::args::{Args, fail};
use crate::checker::{self, Report};
use crate::fleet::{self, Fleet};
use crate::plan::{ClientPlan, Plan, Ready, StepResult};
use crate::record::{Recv, Sent, Stored};
use crate::stats::{self, Summary};
use crate::target::{self, Kind, Spec, Target};

/// Most sockets one worker process opens (a process may open 20 000 files here).
pub const SOCKETS_PER_WORKER: usize = 15_000;

/// Flags every workload takes.
pub struct Common {
    pub targets: Vec<Kind>,
    pub spec: Spec,
    pub workers: usize,
    pub ips: u32,
    pub payload: usize,
    pub receive_acks: bool,
    pub record: bool,
    pub login_rate: f64,
    pub out: Option<PathBuf>,
}

impl Common {
    pub fn from_args(args: &Args) -> Common {
        let targets = match args.string("target", "xinshi").as_str() {
            "xinshi" => vec![Kind::Xinshi],
            "baseline" => vec![Kind::Baseline],
            "both" => vec![Kind::Baseline, Kind::Xinshi],
            other => fail(format!("--target: xinshi, baseline or both, not {other:?}")),
        };
        Common {
            targets,
            spec: Spec::from_args(args),
            workers: args.get("workers", 0),
            ips: args.get("ips", 8),
            payload: args.get("payload", 100),
            receive_acks: !args.flag("no-receive-acks"),
            record: !args.flag("no-record"),
            login_rate: args.get("login-rate", 5_000.0),
            out: args.opt("out").map(PathBuf::from),
        }
    }

    pub fn workers_for(&self, sockets: usize) -> usize {
        if self.workers > 0 { self.workers } else { sockets.div_ceil(SOCKETS_PER_WORKER).max(1) }
    }

    pub fn target_spec(&self, env: &[(&str, String)]) -> Spec {
        let mut spec = self.spec.clone();
        spec.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        spec
    }
}

/// The merged outcome of one fleet run.
pub struct Outcome {
    pub ready: Ready,
    pub go_ns: i64,
    pub steps: Vec<Step>,
    pub sent: Vec<Sent>,
    pub recv: Vec<Recv>,
    pub login: Histogram<u64>,
    pub catchup: Histogram<u64>,
    pub last_catchup_ns: i64,
    pub failures: Value,
    /// Receipts were recorded (not `--no-record`).
    pub recorded: bool,
}

pub struct Step {
    pub ack: Histogram<u64>,
    pub recv: Histogram<u64>,
    pub counts: StepResult,
}

impl Step {
    /// Deliveries per second from the first scheduled send to the last receipt.
    pub fn delivery_rate(&self) -> f64 {
        let span = (self.counts.last_recv_ns - self.counts.first_send_ns) as f64 / 1e9;
        if span > 0.0 { self.counts.delivered as f64 / span } else { 0.0 }
    }

    /// This step in a report: its figures, the rate offered and whether it was the warm-up.
    pub fn record(&self, offered: f64, warmup: bool) -> Value {
        json!({
            "offered": offered,
            "warmup": warmup,
            "sent": self.counts.sent,
            "acked": self.counts.acked,
            "delivered": self.counts.delivered,
            "ack": Summary::of(&self.ack),
            "recv": Summary::of(&self.recv),
            "delivery_rate": self.delivery_rate().round(),
        })
    }
}

/// A started server with a fresh data directory, and the conversations of a workload.
pub struct Prepared {
    pub target: Target,
    /// Client `n` is `{prefix}{n}`, unique to this run.
    pub prefix: String,
    pub ids: Rc<Vec<String>>,
    /// Conversation `c` (of `members[c]`) has id `cids[c]`.
    pub cids: Vec<String>,
    /// The data directory: bind it (`dir: _dir`) so it lives as long as the server; it is
    /// deleted when dropped.
    pub dir: tempfile::TempDir,
}

/// Starts a `kind` server (with extra environment `env`) for `clients` clients and creates
/// one conversation per member list, each by its first member.
pub async fn prepare(
    common: &Common,
    kind: Kind,
    env: &[(&str, String)],
    clients: usize,
    members: &[Vec<u32>],
) -> Prepared {
    let dir = tempfile::Builder::new().prefix("xinshi-loadtest-").tempdir().unwrap_or_else(|e| fail(e));
    let target = Target::start(kind, &common.target_spec(env), &dir.path().join("data"));
    let prefix = format!("lt{}-", crate::worker::now_ns() % 1_000_000);
    let ids: Rc<Vec<String>> = Rc::new((0..clients).map(|i| format!("{prefix}{i}")).collect());
    let cids = crate::setup::create_convs(target.addr(), target::APP_ID, ids.clone(), members)
        .await
        .unwrap_or_else(|e| fail(e));
    Prepared { target, prefix, ids, cids, dir }
}

/// Runs `clients` against `target` with the plan settings in `base`; `between` runs after
/// every client logged in and before the schedules start (the idle workload measures
/// there); `during` runs once the schedules have started.
pub async fn execute(
    common: &Common,
    target: &mut Target,
    base: Plan,
    clients: Vec<ClientPlan>,
    between: impl AsyncFnOnce(&Target, &Ready),
    during: impl AsyncFnOnce(&mut Target, i64),
) -> Outcome {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let workers = common.workers_for(clients.len());
    let base = Plan { login_rate: common.login_rate / workers as f64, ..base };
    let plans = fleet::split(&base, clients, workers, dir.path());
    let mut fleet = Fleet::spawn(plans).await.unwrap_or_else(|e| fail(e));
    let ready = fleet.ready().await.unwrap_or_else(|e| fail(e));
    between(target, &ready).await;
    let go_ns = fleet.go(Duration::from_millis(300)).await.unwrap_or_else(|e| fail(e));
    during(target, go_ns).await;
    fleet.settle().await.unwrap_or_else(|e| fail(e));
    let results = fleet.done().await.unwrap_or_else(|e| fail(e));
    if let Some((batches, items, bytes)) = target.cluster_sent() {
        let per = items as f64 / batches.max(1) as f64;
        eprintln!(
            "cluster: nodes sent each other {batches} batches, {items} items ({per:.1} per batch), {bytes} bytes"
        );
    }

    let mut out = Outcome {
        ready,
        go_ns,
        steps: (0..base.steps.max(1))
            .map(|_| Step { ack: stats::histogram(), recv: stats::histogram(), counts: StepResult::default() })
            .collect(),
        sent: Vec::new(),
        recv: Vec::new(),
        login: stats::histogram(),
        catchup: stats::histogram(),
        last_catchup_ns: 0,
        failures: Value::Null,
        recorded: base.record,
    };
    let (mut disconnects, mut reconnects, mut skipped, mut login_failures) = (0, 0, 0, 0);
    let mut errors = std::collections::BTreeMap::<i32, u64>::new();
    for r in results {
        for (step, s) in out.steps.iter_mut().zip(r.steps) {
            step.ack.add(stats::from_bytes(&s.ack)).expect("same bounds");
            step.recv.add(stats::from_bytes(&s.recv)).expect("same bounds");
            let c = &mut step.counts;
            c.sent += s.sent;
            c.acked += s.acked;
            c.delivered += s.delivered;
            c.first_send_ns = if c.first_send_ns == 0 { s.first_send_ns } else { c.first_send_ns.min(s.first_send_ns) };
            c.last_recv_ns = c.last_recv_ns.max(s.last_recv_ns);
            c.last_ack_ns = c.last_ack_ns.max(s.last_ack_ns);
        }
        out.sent.extend(r.sent);
        out.recv.extend(r.recv);
        out.login.add(stats::from_bytes(&r.login)).expect("same bounds");
        out.catchup.add(stats::from_bytes(&r.catchup)).expect("same bounds");
        out.last_catchup_ns = out.last_catchup_ns.max(r.last_catchup_ns);
        disconnects += r.disconnects;
        reconnects += r.reconnects;
        skipped += r.skipped;
        login_failures += r.login_failures;
        for (code, n) in r.errors {
            *errors.entry(code).or_default() += n;
        }
    }
    out.failures = json!({
        "login_failures": login_failures,
        "disconnects": disconnects,
        "reconnects": reconnects,
        "skipped_sends": skipped,
        "errors": errors.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    out
}

impl Outcome {
    /// The checker's verdict; with `--no-record` only the send counts (nothing to check).
    pub fn check(&self, members: &[Vec<u32>], audit: Option<&[Vec<Stored>]>) -> Report {
        if !self.recorded {
            let acked = self.sent.iter().filter(|s| s.acked).count() as u64;
            return Report { sent: self.sent.len() as u64, acked, unchecked: true, ..Report::default() };
        }
        checker::check(members, &self.sent, &self.recv, audit)
    }
}

/// A base plan with no clients yet.
pub fn base_plan(common: &Common, target: &Target, prefix: &str, cids: Vec<String>, steps: usize, end_at: f64) -> Plan {
    Plan {
        servers: target.addrs(),
        app_id: target::APP_ID.into(),
        prefix: prefix.into(),
        cids,
        clients: Vec::new(),
        ips: common.ips,
        login_rate: common.login_rate,
        payload_bytes: common.payload,
        steps,
        end_at,
        final_sync: true,
        receive_acks: common.receive_acks,
        record: common.record,
        out: PathBuf::new(),
    }
}

/// The rate steps with a warm-up step in front (half the first rate; `--no-warmup` drops
/// it): conversation actors start and caches fill there, not in the first measured step.
pub fn with_warmup(args: &Args, rates: Vec<f64>) -> (Vec<f64>, usize) {
    if args.flag("no-warmup") || rates.is_empty() {
        return (rates, 0);
    }
    let mut all = vec![rates[0] / 2.0];
    all.extend(rates);
    (all, 1)
}

/// A deterministic spread of start phases in [0, 1) so equal-rate senders do not fire in
/// lockstep.
pub fn phase(n: u32) -> f64 {
    (f64::from(n) * 0.618_033_988_749_895).fract()
}

/// The machine, for the report.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']));
    let cores = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(str::trim);
    json!({
        "cpu": model,
        "cores": cores,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "generator_cpus": allowed,
    })
}

/// Prints the header of a latency table whose second column is `rate_name`.
pub fn latency_header(rate_name: &str) {
    eprintln!("{:>9} {rate_name:>9} {:>34} {:>34}", "offered/s", "ack p50/p99/p99.9/max", "receive p50/p99/p99.9/max");
}

/// Prints one row of a latency table; returns the step's (ack, receive) summaries.
pub fn latency_row(offered: f64, rate: f64, step: &Step) -> (Summary, Summary) {
    let (ack, recv) = (Summary::of(&step.ack), Summary::of(&step.recv));
    eprintln!("{offered:>9.0} {rate:>9.0} {:>34} {:>34}", ack.brief(), recv.brief());
    (ack, recv)
}

/// Says which printed step was the warm-up.
pub fn note_warmup(warmup: usize) {
    if warmup > 0 {
        eprintln!("(the first step is a warm-up: not counted in the summary figures)");
    }
}

/// The report of a workload run against one or more targets, written by [`finish`].
pub fn report(common: &Common, workload: &str, params: Value, results: Vec<Value>) {
    let report = json!({ "workload": workload, "machine": machine(), "params": params, "results": results });
    finish(common, report);
}

/// Writes the report to the `--out` file, if one was given (the human summary went to stderr).
pub fn finish(common: &Common, report: Value) {
    let text = serde_json::to_string_pretty(&report).expect("serializable");
    if let Some(path) = &common.out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, &text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        eprintln!("loadtest: wrote {}", path.display());
    }
}
