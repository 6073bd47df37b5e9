//! `loadtest room`: one conversation of N members, S of them sending, at stepped offered
//! delivery rates (messages/s × (N − 1)); deliveries/s achieved and delivery latency, for
//! each room size. (Chat rooms proper come later; this is a normal conversation with the
//! member cap raised.)

use serde_json::json;

use crate::args::{Args, fail};
use crate::plan::{ClientPlan, Segment};
use crate::run::{self, Common};
use crate::stats::Summary;

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let sizes: Vec<u32> = args.list("sizes", &[100, 1_000, 5_000]);
    let senders: u32 = args.get("senders", 10);
    let offered: Vec<f64> = args.list("offered", &[100_000.0, 300_000.0, 1_000_000.0]);
    let step_secs: f64 = args.get("step-secs", 5.0);
    let (offered, warmup) = run::with_warmup(args, offered);
    args.finish();
    let env =
        [("XINSHI_LIMITS_MAX_MEMBERS", "1000000".to_string()), ("XINSHI_LIMITS_MAX_FRAME_BYTES", "4194304".into())];
    let mut ok = true;
    let mut results = Vec::new();
    for &size in &sizes {
        if size < 2 || senders == 0 || senders > size {
            fail("a room needs at least 2 members and 1..=size senders");
        }
        for &kind in &common.targets {
            let members = vec![(0..size).collect::<Vec<u32>>()];
            let run::Prepared { mut target, prefix, cids, dir: _dir, .. } =
                run::prepare(&common, kind, &env, size as usize, &members).await;
            let end_at = offered.len() as f64 * step_secs + 3.0;
            let base = run::base_plan(&common, &target, &prefix, cids, offered.len(), end_at);
            let clients = (0..size)
                .map(|c| ClientPlan {
                    index: c,
                    convs: vec![0],
                    sends: if c < senders { sender_steps(c, size, senders, &offered, step_secs) } else { Vec::new() },
                    ..Default::default()
                })
                .collect();
            let outcome = run::execute(&common, &mut target, base, clients, async |_, _| {}, async |_, _| {}).await;
            let check = outcome.check(&members, None);
            ok &= check.ok();
            eprintln!("\n{kind:?}: room of {size}, {senders} senders, {step_secs} s per step");
            eprintln!("{:>13} {:>13} {:>34}", "offered/s", "delivered/s", "delivery p50/p99/p99.9/max");
            let mut steps = Vec::new();
            let mut best = 0.0f64;
            for (n, (step, &rate)) in outcome.steps.iter().zip(&offered).enumerate() {
                let warm = n < warmup;
                let recv = Summary::of(&step.recv);
                eprintln!("{rate:>13.0} {:>13.0} {:>34}", step.delivery_rate(), recv.brief());
                if !warm {
                    best = best.max(step.delivery_rate());
                }
                steps.push(step.record(rate, warm));
            }
            run::note_warmup(warmup);
            eprintln!("check: {}", check.brief());
            results.push(json!({
                "target": kind,
                "size": size,
                "steps": steps,
                "best_delivery_rate": best.round(),
                "check": check,
                "failures": outcome.failures,
            }));
            target.stop();
        }
    }
    let params = json!({ "sizes": sizes, "senders": senders, "offered": offered, "step_secs": step_secs, "payload": common.payload });
    run::report(&common, "room", params, results);
    ok
}

/// Sender `c` of `senders` in a room of `size`: its share of each step's message rate.
fn sender_steps(c: u32, size: u32, senders: u32, offered: &[f64], step_secs: f64) -> Vec<Segment> {
    offered
        .iter()
        .enumerate()
        .map(|(s, &deliveries)| {
            let r = deliveries / f64::from(size - 1) / f64::from(senders);
            Segment {
                conv: 0,
                step: s as u16,
                start: s as f64 * step_secs + run::phase(c) / r,
                rate: r,
                count: (r * step_secs).round() as u32,
            }
        })
        .collect()
}
