//! `loadtest reconnect`: C clients, each in a one-to-one conversation with one of S
//! senders, drop at once; the senders send M messages to each of them; the clients come back
//! spread over a window and each syncs its history. Reported: per client, scheduled return →
//! gap-free history, and the time from the first return until the last client is gap-free.
//! No final sync runs, so the checker judges exactly what the return syncs fetched.

use serde_json::json;

use crate::args::{Args, fail};
use crate::plan::{ClientPlan, Plan, Segment};
use crate::run::{self, Common};
use crate::stats::Summary;

const DROP_AT: f64 = 1.0;
const SEND_FROM: f64 = 1.5;

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let clients: u32 = args.get("clients", 10_000);
    let senders: u32 = args.get("senders", 500);
    let messages: u32 = args.get("messages", 5);
    let away: f64 = args.get("away-secs", 5.0);
    let window: f64 = args.get("window", 10.0);
    args.finish();
    if clients == 0 || senders == 0 || messages == 0 || away <= 0.0 {
        fail("--clients, --senders, --messages and --away-secs must be positive");
    }
    let first_back = SEND_FROM + away + 0.5;
    let end_at = first_back + window + 2.0;
    let members: Vec<Vec<u32>> = (0..clients).map(|k| vec![clients + k % senders, k]).collect();
    let mut ok = true;
    let mut results = Vec::new();
    for &kind in &common.targets {
        let run::Prepared { mut target, prefix, cids, dir: _dir, .. } =
            run::prepare(&common, kind, &[], (clients + senders) as usize, &members).await;
        let base = run::base_plan(&common, &target, &prefix, cids, 1, end_at);
        let rate = f64::from(messages) / away;
        let mut plans: Vec<ClientPlan> = (0..clients)
            .map(|k| ClientPlan {
                index: k,
                convs: vec![k],
                drop_at: Some(DROP_AT),
                back_at: Some(first_back + window * run::phase(k)),
                ..Default::default()
            })
            .collect();
        plans.extend((0..senders).map(|s| {
            ClientPlan {
                index: clients + s,
                sends: (s..clients)
                    .step_by(senders as usize)
                    .map(|k| Segment {
                        conv: k,
                        step: 0,
                        start: SEND_FROM + run::phase(k) / rate,
                        rate,
                        count: messages,
                    })
                    .collect(),
                ..Default::default()
            }
        }));
        let outcome = run::execute(
            &common,
            &mut target,
            Plan { final_sync: false, ..base },
            plans,
            async |_, _| {},
            async |_, _| {},
        )
        .await;
        let check = outcome.check(&members, None);
        ok &= check.ok();
        let catchup = Summary::of(&outcome.catchup);
        let all_done = (outcome.last_catchup_ns - outcome.go_ns) as f64 / 1e9 - first_back;
        eprintln!(
            "\n{kind:?}: {clients} clients back over {window} s after {} messages each; return → gap-free {}; \
             first return → last client gap-free {all_done:.2} s; {}",
            messages,
            catchup.brief(),
            outcome.failures
        );
        eprintln!("check: {}", check.brief());
        results.push(json!({
            "target": kind,
            "catchup": catchup,
            "first_return_to_all_gap_free_secs": (all_done * 1000.0).round() / 1000.0,
            "check": check,
            "failures": outcome.failures,
        }));
        target.stop();
    }
    let params = json!({ "clients": clients, "senders": senders, "messages": messages, "away_secs": away, "window_secs": window });
    run::report(&common, "reconnect", params, results);
    ok
}
