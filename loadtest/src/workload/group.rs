//! `loadtest group`: many conversations of 50 members drawn from a pool of clients, a few
//! senders in each, at stepped total rates; stored (acknowledged) messages/s and the
//! highest rate whose send→ack p99 stays under 200 ms.

use rand::SeedableRng;
use serde_json::{Value, json};

use crate::args::{Args, fail};
use crate::plan::{ClientPlan, Segment};
use crate::run::{self, Common};

const P99_BOUND_MS: f64 = 200.0;

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let groups: u32 = args.get("groups", 200);
    let size: u32 = args.get("members", 50);
    let pool: u32 = args.get("clients", 2_000);
    let per_group: u32 = args.get("senders-per-group", 5);
    let rates: Vec<f64> = args.list("rates", &[1_000.0, 2_000.0, 4_000.0, 8_000.0]);
    let step_secs: f64 = args.get("step-secs", 5.0);
    let (rates, warmup) = run::with_warmup(args, rates);
    args.finish();
    if size < 2 || size > pool || per_group == 0 || per_group > size {
        fail("need 2 ≤ members ≤ clients and 1 ≤ senders-per-group ≤ members");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let members: Vec<Vec<u32>> = (0..groups)
        .map(|_| {
            rand::seq::index::sample(&mut rng, pool as usize, size as usize).into_iter().map(|m| m as u32).collect()
        })
        .collect();
    let mut ok = true;
    let mut results = Vec::new();
    for &kind in &common.targets {
        let run::Prepared { mut target, prefix, cids, dir: _dir, .. } =
            run::prepare(&common, kind, &[], pool as usize, &members).await;
        let end_at = rates.len() as f64 * step_secs + 3.0;
        let base = run::base_plan(&common, &target, &prefix, cids, rates.len(), end_at);
        let mut clients: Vec<ClientPlan> = (0..pool).map(|c| ClientPlan { index: c, ..Default::default() }).collect();
        for (g, group) in members.iter().enumerate() {
            for (j, &m) in group.iter().enumerate() {
                let client = &mut clients[m as usize];
                client.convs.push(g as u32);
                if (j as u32) < per_group {
                    let senders = f64::from(groups * per_group);
                    let phase_key = g as u32 * per_group + j as u32;
                    client.sends.extend(rates.iter().enumerate().map(|(s, &rate)| {
                        let r = rate / senders;
                        Segment {
                            conv: g as u32,
                            step: s as u16,
                            start: s as f64 * step_secs + run::phase(phase_key) / r,
                            rate: r,
                            count: (r * step_secs).round() as u32,
                        }
                    }));
                }
            }
        }
        let cpu0 = target.cpu_secs();
        let outcome = run::execute(&common, &mut target, base, clients, async |_, _| {}, async |_, _| {}).await;
        let cpu = target.cpu_secs() - cpu0;
        let check = outcome.check(&members, None);
        ok &= check.ok();
        let delivered: u64 = outcome.steps.iter().map(|s| s.counts.delivered).sum();
        let per_delivery = cpu * 1e6 / delivered.max(1) as f64;
        eprintln!(
            "\n{kind:?}: {groups} conversations of {size} from {pool} clients, {per_group} senders each \
             ({cpu:.2} s of server CPU, {per_delivery:.1} µs per live delivery)"
        );
        run::latency_header("stored/s");
        let mut steps = Vec::new();
        let mut best = Value::Null;
        for (n, (step, &rate)) in outcome.steps.iter().zip(&rates).enumerate() {
            let warm = n < warmup;
            let stored = step.counts.acked as f64 / step_secs;
            let (ack, _) = run::latency_row(rate, stored, step);
            if !warm && ack.p99_ms < P99_BOUND_MS && ack.count > 0 {
                best = json!(stored.round());
            }
            let mut s = step.record(rate, warm);
            s["stored_rate"] = json!(stored.round());
            steps.push(s);
        }
        run::note_warmup(warmup);
        eprintln!("check: {}", check.brief());
        results.push(json!({
            "target": kind,
            "steps": steps,
            "stored_rate_at_p99_under_200ms": best,
            "server_cpu_secs": cpu,
            "check": check,
            "failures": outcome.failures,
        }));
        target.stop();
    }
    let params = json!({ "groups": groups, "members": size, "clients": pool, "senders_per_group": per_group,
                        "rates": rates, "step_secs": step_secs, "payload": common.payload });
    run::report(&common, "group", params, results);
    ok
}
