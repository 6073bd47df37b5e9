//! `loadtest direct`: P pairs chatting one-to-one (both members send) at stepped total
//! rates; per step p50/p99/p99.9 of send→ack and send→receive, and the first rate at which a
//! p99 passes 100 ms.

use serde_json::{Value, json};

use crate::args::Args;
use crate::plan::{ClientPlan, Segment};
use crate::run::{self, Common};

pub const KNEE_MS: f64 = 100.0;

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let pairs: u32 = args.get("pairs", 1000);
    let rates: Vec<f64> = args.list("rates", &[5_000.0, 10_000.0, 20_000.0, 40_000.0]);
    let step_secs: f64 = args.get("step-secs", 5.0);
    let (rates, warmup) = run::with_warmup(args, rates);
    args.finish();
    let mut ok = true;
    let mut results = Vec::new();
    for &kind in &common.targets {
        let n = pairs * 2;
        let members: Vec<Vec<u32>> = (0..pairs).map(|k| vec![2 * k, 2 * k + 1]).collect();
        let run::Prepared { mut target, prefix, cids, dir: _dir, .. } =
            run::prepare(&common, kind, &[], n as usize, &members).await;
        let end_at = rates.len() as f64 * step_secs + 3.0;
        let base = run::base_plan(&common, &target, &prefix, cids, rates.len(), end_at);
        let clients = (0..n).map(|c| ClientPlan {
            index: c,
            convs: vec![c / 2],
            sends: steps(c / 2, c, n, &rates, step_secs),
            ..Default::default()
        });
        let cpu0 = target.cpu_secs();
        let outcome =
            run::execute(&common, &mut target, base, clients.collect(), async |_, _| {}, async |_, _| {}).await;
        let cpu = target.cpu_secs() - cpu0;
        let check = outcome.check(&members, None);
        ok &= check.ok();
        let acked: u64 = outcome.steps.iter().map(|s| s.counts.acked).sum();
        let per_msg = cpu * 1e6 / acked.max(1) as f64;
        eprintln!(
            "\n{kind:?}: {pairs} pairs, {step_secs} s per step ({cpu:.2} s of server CPU, {per_msg:.1} µs per acked message)"
        );
        run::latency_header("acked/s");
        let mut steps = Vec::new();
        let mut knee = Value::Null;
        for (n, (step, &rate)) in outcome.steps.iter().zip(&rates).enumerate() {
            let warm = n < warmup;
            let acked_rate = step.counts.acked as f64 / step_secs;
            let (ack, recv) = run::latency_row(rate, acked_rate, step);
            if !warm && knee.is_null() && (ack.p99_ms > KNEE_MS || recv.p99_ms > KNEE_MS) {
                knee = json!(rate);
            }
            let mut s = step.record(rate, warm);
            s["acked_rate"] = json!(acked_rate.round());
            steps.push(s);
        }
        run::note_warmup(warmup);
        eprintln!("check: {}", check.brief());
        results.push(json!({
            "target": kind,
            "steps": steps,
            "p99_over_100ms_at": knee,
            "check": check,
            "failures": outcome.failures,
            "server_cpu_secs": cpu,
            "server_rss_kib": target.rss_kib(),
        }));
        target.stop();
    }
    let params = json!({ "pairs": pairs, "rates": rates, "step_secs": step_secs, "payload": common.payload });
    run::report(&common, "direct", params, results);
    ok
}

/// Client `c` of `n` sends `rates[s] / n` messages per second during step `s`.
pub fn steps(conv: u32, c: u32, n: u32, rates: &[f64], step_secs: f64) -> Vec<Segment> {
    rates
        .iter()
        .enumerate()
        .map(|(s, &rate)| {
            let r = rate / f64::from(n);
            Segment {
                conv,
                step: s as u16,
                start: s as f64 * step_secs + run::phase(c) / r,
                rate: r,
                count: (r * step_secs).round() as u32,
            }
        })
        .collect()
}
