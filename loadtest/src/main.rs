//! `loadtest`: load generator, delivery checker and crash test for xinshi.
//!
//! The coordinator (this process) starts the server under test as a child process
//! ([`target`]), creates the conversations a workload needs ([`setup`]), and hands the
//! clients out to worker processes ([`fleet`], [`worker`]) so that one run can hold more
//! sockets than one process may open. Each worker runs its clients ([`client`]) on one
//! thread, on open-loop schedules: a message is due at a fixed time and its latency counts
//! from then, however late the client gets to send it. Workers record every send, ack and
//! receipt ([`record`]); the coordinator merges their histograms ([`stats`]), runs the
//! [`checker`] and writes a JSON report that `loadtest plot` turns into SVG charts.
//!
//! `--target baseline` (or `both`) runs the same workload against a bare WebSocket server
//! on the same stack ([`baseline`]), the transport limit to compare with.

mod args;
mod baseline;
mod checker;
mod client;
mod fleet;
mod plan;
mod plot;
mod record;
mod run;
mod setup;
mod stats;
mod target;
mod wire;
mod worker;
mod workload;

use std::process::ExitCode;

use args::Args;

const USAGE: &str = "usage: loadtest <workload> [--flag value …]

workloads (each starts its own server; see docs/benchmarks.md for every flag):
  idle       ramp N logged-in idle sessions; server RSS per session, ramp time, idle CPU
  direct     P pairs in one-to-one conversations at stepped rates; ack/receive latency
  room       one conversation of N members with S senders; deliveries/s, p99 delivery
  group      many 50-member conversations; stored messages/s at p99 < 200 ms
  reconnect  C clients drop, messages arrive meanwhile, all come back; time to gap-free
  crash      kill -9 the server under load K times; check nothing acknowledged was lost
  plot       turn JSON reports into SVG charts: plot --out-dir DIR report.json …

common flags: --target xinshi|baseline|both  --server-bin PATH  --server-cpus LIST
  --server-env NAME=VALUE,…  --nodes N (a cluster over a shared store)
  --workers N  --ips N  --payload BYTES  --login-rate N  --no-receive-acks  --no-record
  --no-warmup (direct, group, room)
  --out report.json";

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if command == "plot" {
        return if workload::plot::run(rest) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let args = Args::parse(rest);
    let ok = match command.as_str() {
        "worker" => return worker::main(),
        "baseline-server" => return baseline::main(&args).map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS),
        "idle" => block_on(workload::idle::run(&args)),
        "direct" => block_on(workload::direct::run(&args)),
        "room" => block_on(workload::room::run(&args)),
        "group" => block_on(workload::group::run(&args)),
        "reconnect" => block_on(workload::reconnect::run(&args)),
        "crash" => block_on(workload::crash::run(&args)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            true
        }
        other => {
            eprintln!("unknown workload {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The coordinator runs on one thread: it mostly waits for workers.
fn block_on(run: impl Future<Output = bool>) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    tokio::task::LocalSet::new().block_on(&runtime, run)
}
