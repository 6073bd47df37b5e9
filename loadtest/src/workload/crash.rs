//! `loadtest crash`: the server runs as a child process while clients send; it is killed
//! with SIGKILL at random moments and restarted on the same data directory. After K cycles
//! every client syncs its history and an auditor reads every stored conversation; the
//! checker then demands that no acknowledged message was lost and that no conversation
//! has a gap, a reused sequence number or a message stored twice. With `--nodes N` the
//! server is a cluster: each cycle kills one node chosen at random, whose clients log in on
//! the next node, and restarts it.

use rand::Rng;
use serde_json::json;

use crate::args::{Args, fail};
use crate::plan::{ClientPlan, Segment};
use crate::run::{self, Common};
use crate::setup;
use crate::target::{APP_ID, Kind};

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let cycles: u32 = args.get("cycles", 3);
    let clients: u32 = args.get("clients", 20);
    let rate: f64 = args.get("rate", 50.0);
    let min_up: f64 = args.get("min-up", 0.3);
    let max_up: f64 = args.get("max-up", 1.5);
    args.finish();
    if clients < 2 || max_up < min_up {
        fail("--clients must be at least 2 and --max-up at least --min-up");
    }
    // `--target baseline` keeps nothing across a restart: the check must fail there.
    let kind = common.targets.last().copied().unwrap_or(Kind::Xinshi);
    // Pairs, plus one conversation of everybody so group commits span conversations.
    let mut members: Vec<Vec<u32>> = (0..clients / 2).map(|k| vec![2 * k, 2 * k + 1]).collect();
    members.push((0..clients).collect());
    let everyone = members.len() as u32 - 1;
    let run::Prepared { mut target, prefix, ids, cids, dir: _dir, .. } =
        run::prepare(&common, kind, &[], clients as usize, &members).await;

    let mut rng = rand::rng();
    let mut kills = Vec::new();
    let mut t = 0.5;
    for _ in 0..cycles {
        t += rng.random_range(min_up..=max_up);
        kills.push(t);
    }
    // Sending stops 2 s after the last kill leaves room for a restart; then everyone syncs.
    let send_secs = t + 3.0;
    let end_at = send_secs + 2.0;
    let base = run::base_plan(&common, &target, &prefix, cids.clone(), 1, end_at);
    let plans: Vec<ClientPlan> = (0..clients)
        .map(|c| {
            let pair = c / 2;
            let mut convs = vec![everyone];
            let mut sends = vec![segment(everyone, c, rate / 4.0, send_secs)];
            if pair < everyone {
                convs.push(pair);
                sends.push(segment(pair, c, rate, send_secs));
            }
            ClientPlan { index: c, convs, sends, auto_reconnect: true, ..Default::default() }
        })
        .collect();

    let (mut restarts, mut victims) = (Vec::new(), Vec::new());
    let outcome = run::execute(
        &common,
        &mut target,
        base,
        plans,
        async |_, _| {},
        async |target, go_ns| {
            for &kill in &kills {
                let at = go_ns + (kill * 1e9) as i64;
                let wait = (at - crate::worker::now_ns()).max(0) as u64;
                tokio::time::sleep(std::time::Duration::from_nanos(wait)).await;
                let started = std::time::Instant::now();
                let node = rand::rng().random_range(0..target.nodes.len());
                target.nodes[node].restart();
                restarts.push(started.elapsed().as_secs_f64());
                victims.push(node);
            }
        },
    )
    .await;
    let audit = setup::audit(target.addr(), APP_ID, ids, &members, &cids).await.unwrap_or_else(|e| fail(e));
    let check = outcome.check(&members, Some(&audit));
    let restart_ms: Vec<u64> = restarts.iter().map(|s| (s * 1000.0) as u64).collect();
    let nodes = target.nodes.len();
    eprintln!(
        "crash: {cycles} kill -9 cycles of {nodes} node(s) (killed: {victims:?}), restarts took {restart_ms:?} ms; {}",
        outcome.failures
    );
    let back = crate::stats::Summary::of(&outcome.catchup);
    eprintln!("back (connection lost → logged in again and synced): {}", back.brief());
    eprintln!("check: {}", check.brief());
    let clean = check.ok() && check.seq_gaps == 0 && check.seq_dups == 0 && check.stored_twice == 0;
    eprintln!("crash test: {}", if clean { "PASS" } else { "FAIL" });
    run::finish(
        &common,
        json!({
            "workload": "crash",
            "target": kind,
            "machine": run::machine(),
            "params": { "cycles": cycles, "clients": clients, "rate": rate, "up_secs": [min_up, max_up], "nodes": nodes },
            "kills_at": kills,
            "killed": victims,
            "restart_ms": restart_ms,
            "back": back,
            "check": check,
            "failures": outcome.failures,
            "pass": clean,
        }),
    );
    target.stop();
    clean
}

fn segment(conv: u32, c: u32, rate: f64, secs: f64) -> Segment {
    Segment { conv, step: 0, start: run::phase(c) / rate, rate, count: (rate * secs) as u32 }
}
