//! `loadtest idle`: ramp N logged-in sessions that then do nothing; report the server's
//! resident memory per session, the ramp time and the CPU the server burns while they idle.

use std::time::Duration;

use serde_json::json;

use crate::args::Args;
use crate::plan::{ClientPlan, Plan};
use crate::run::{self, Common};

pub async fn run(args: &Args) -> bool {
    let common = Common::from_args(args);
    let sessions: u32 = args.get("sessions", 10_000);
    let idle_secs: f64 = args.get("idle-secs", 10.0);
    args.finish();
    let mut results = Vec::new();
    let mut ok = true;
    for &kind in &common.targets {
        let run::Prepared { mut target, prefix, dir: _dir, .. } = run::prepare(&common, kind, &[], 0, &[]).await;
        // Warm the server up with one login so lazily built state is in the "before" figure.
        let _ = crate::setup::login_once(target.addr(), crate::target::APP_ID, &format!("{prefix}warm")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = target.rss_kib();
        let base = run::base_plan(&common, &target, &prefix, Vec::new(), 1, 0.0);
        let clients = (0..sessions).map(|c| ClientPlan { index: c, ..Default::default() }).collect();
        let mut measured = json!({});
        let outcome = run::execute(
            &common,
            &mut target,
            Plan { final_sync: false, receive_acks: false, ..base },
            clients,
            async |target, ready| {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let rss = target.rss_kib();
                let cpu0 = target.cpu_secs();
                tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
                let cpu = target.cpu_secs() - cpu0;
                let per_session = (rss.saturating_sub(rss_before)) as f64 / ready.logged_in.max(1) as f64;
                eprintln!(
                    "\n{kind:?}: {} sessions logged in in {:.1} s ({} failed); RSS {} → {} KiB = {:.1} KiB per session; \
                     idle CPU {:.2} % of a core",
                    ready.logged_in,
                    ready.secs,
                    ready.failed,
                    rss_before,
                    rss,
                    per_session,
                    cpu / idle_secs * 100.0
                );
                measured = json!({
                    "sessions": ready.logged_in,
                    "login_failures": ready.failed,
                    "ramp_secs": ready.secs,
                    "rss_before_kib": rss_before,
                    "rss_after_kib": rss,
                    "rss_per_session_kib": (per_session * 100.0).round() / 100.0,
                    "idle_cpu_percent": (cpu / idle_secs * 10_000.0).round() / 100.0,
                });
            },
            async |_, _| {},
        )
        .await;
        ok &= outcome.ready.failed == 0;
        measured["target"] = json!(kind);
        measured["login"] = json!(crate::stats::Summary::of(&outcome.login));
        results.push(measured);
        target.stop();
    }
    let params = json!({ "sessions": sessions, "idle_secs": idle_secs, "login_rate": common.login_rate });
    run::report(&common, "idle", params, results);
    ok
}
