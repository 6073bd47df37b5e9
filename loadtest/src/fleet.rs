//! The coordinator's side of the worker processes: spawn them with their plans, wait until
//! all are ready, start them at one instant, collect their results.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::plan::{ClientPlan, Plan, Ready, WorkerResult};
use crate::worker::now_ns;

pub struct Fleet {
    workers: Vec<Worker>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    out: PathBuf,
}

/// Deals `clients` out to `workers` plans built from `base` (round-robin, so every worker
/// gets a share of senders and receivers).
pub fn split(base: &Plan, clients: Vec<ClientPlan>, workers: usize, dir: &std::path::Path) -> Vec<Plan> {
    let workers = workers.max(1);
    let mut plans: Vec<Plan> = (0..workers)
        .map(|w| Plan { clients: Vec::new(), out: dir.join(format!("worker-{w}.msgpack")), ..base.clone() })
        .collect();
    for (n, client) in clients.into_iter().enumerate() {
        plans[n % workers].clients.push(client);
    }
    plans
}

impl Fleet {
    pub async fn spawn(plans: Vec<Plan>) -> Result<Fleet, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut workers = Vec::new();
        for plan in plans {
            let mut command = std::process::Command::new(&exe);
            crate::target::die_with_parent(&mut command);
            let mut child = Command::from(command)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start a worker: {e}"))?;
            let mut stdin = child.stdin.take().expect("piped");
            let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
            let line = serde_json::to_string(&plan).expect("serializable") + "\n";
            stdin.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
            workers.push(Worker { child, stdin, stdout, out: plan.out.clone() });
        }
        Ok(Fleet { workers })
    }

    /// Waits for every worker to have logged its clients in.
    pub async fn ready(&mut self) -> Result<Ready, String> {
        let mut total = Ready::default();
        for w in &mut self.workers {
            let line =
                w.stdout.next_line().await.map_err(|e| e.to_string())?.ok_or("a worker died while logging in")?;
            let ready: Ready = line
                .strip_prefix("ready ")
                .and_then(|json| serde_json::from_str(json).ok())
                .ok_or_else(|| format!("unexpected worker output {line:?}"))?;
            total.logged_in += ready.logged_in;
            total.failed += ready.failed;
            total.secs = total.secs.max(ready.secs);
        }
        Ok(total)
    }

    /// Starts every worker's schedule at the same instant, `lead` from now; returns it (Unix ns).
    pub async fn go(&mut self, lead: Duration) -> Result<i64, String> {
        let go = now_ns() + lead.as_nanos() as i64;
        for w in &mut self.workers {
            w.stdin.write_all(format!("go {go}\n").as_bytes()).await.map_err(|e| e.to_string())?;
            w.stdin.flush().await.map_err(|e| e.to_string())?;
        }
        Ok(go)
    }

    /// Waits until every worker's clients stopped sending and hold every reply, then lets
    /// them all run their final history sync.
    pub async fn settle(&mut self) -> Result<(), String> {
        for w in &mut self.workers {
            let line = w.stdout.next_line().await.map_err(|e| e.to_string())?;
            if line.as_deref() != Some("settled") {
                return Err(format!("a worker died before settling ({line:?})"));
            }
        }
        for w in &mut self.workers {
            w.stdin.write_all(b"sync\n").await.map_err(|e| e.to_string())?;
            w.stdin.flush().await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub async fn done(self) -> Result<Vec<WorkerResult>, String> {
        let mut results = Vec::new();
        for mut w in self.workers {
            let line = w.stdout.next_line().await.map_err(|e| e.to_string())?;
            if line.as_deref() != Some("done") {
                return Err(format!("a worker ended without its result ({line:?})"));
            }
            let _ = w.child.wait().await;
            let bytes = std::fs::read(&w.out).map_err(|e| format!("{}: {e}", w.out.display()))?;
            results.push(rmp_serde::from_slice(&bytes).map_err(|e| e.to_string())?);
        }
        Ok(results)
    }
}
