//! The server under test as child processes: xinshi, or the bare baseline server. It can be
//! pinned to CPUs with `taskset`, measured through /proc, killed with SIGKILL and restarted
//! on the same port and data directory. With `--nodes N` (N > 1) it is a cluster of N
//! xinshi processes over the store `--server-env` names (PostgreSQL): `n0` … on 127.0.0.1
//! ports, all dialing `n0`, started and measured together; one of them can be killed.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::{Args, fail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Xinshi,
    Baseline,
}

/// How to start the server: from the command line flags every workload shares.
#[derive(Debug, Clone)]
pub struct Spec {
    pub bin: PathBuf,
    /// `taskset -c` CPU list for the server (none: not pinned).
    pub cpus: Option<String>,
    /// Extra environment for the server: workload settings, then `--server-env A=1,B=2`.
    pub env: Vec<(String, String)>,
    /// How many nodes (`--nodes`, 1: no cluster).
    pub nodes: usize,
}

impl Spec {
    pub fn from_args(args: &Args) -> Spec {
        let default_bin = std::env::current_exe().ok().and_then(|p| Some(p.parent()?.join("xinshi")));
        let bin = args.opt("server-bin").map(PathBuf::from).or(default_bin).unwrap_or_else(|| "xinshi".into());
        let env = args
            .opt("server-env")
            .map(|list| {
                list.split(',')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => fail(format!("--server-env: expected NAME=VALUE, got {pair:?}")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let nodes = args.get("nodes", 1usize).max(1);
        Spec { bin, cpus: args.opt("server-cpus"), env, nodes }
    }
}

/// The server: one process, or the nodes of a cluster.
pub struct Target {
    pub nodes: Vec<Node>,
}

/// One server process.
pub struct Node {
    pub addr: SocketAddr,
    kind: Kind,
    spec: Spec,
    data_dir: PathBuf,
    /// Its cluster settings (empty on a single node).
    cluster_env: Vec<(String, String)>,
    child: Option<Child>,
}

pub const APP_ID: &str = "loadtest";

fn free_port() -> u16 {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    port.unwrap_or_else(|e| fail(format!("no free port: {e}")))
}

impl Target {
    pub fn start(kind: Kind, spec: &Spec, data_dir: &Path) -> Target {
        let count = if kind == Kind::Xinshi { spec.nodes } else { 1 };
        let links: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let nodes: Vec<Node> = (0..count)
            .map(|n| {
                let cluster_env = if count == 1 {
                    Vec::new()
                } else {
                    vec![
                        ("XINSHI_CLUSTER_NAME".into(), format!("n{n}")),
                        ("XINSHI_CLUSTER_LISTEN".into(), format!("127.0.0.1:{}", links[n])),
                        ("XINSHI_CLUSTER_SEEDS".into(), format!("127.0.0.1:{}", links[0])),
                        ("XINSHI_CLUSTER_COOKIE".into(), "loadtest".into()),
                    ]
                };
                let data_dir = if count == 1 { data_dir.to_path_buf() } else { data_dir.join(format!("n{n}")) };
                let mut node = Node {
                    addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
                    kind,
                    spec: spec.clone(),
                    data_dir,
                    cluster_env,
                    child: None,
                };
                node.spawn();
                node
            })
            .collect();
        let target = Target { nodes };
        target.wait_routed();
        target
    }

    /// The first node's address (where setup and audits go).
    pub fn addr(&self) -> SocketAddr {
        self.nodes[0].addr
    }

    /// Every node's address.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// In a cluster: waits until every node has a route to every other (at most 60 s).
    pub fn wait_routed(&self) {
        let others = self.nodes.len() - 1;
        if others == 0 {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in &self.nodes {
            while routes(node.addr) != Some(others) {
                if Instant::now() > deadline {
                    fail(format!("node {} has no route to every other node within 60 s", node.addr));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// In a cluster: what the nodes sent each other so far (batches, items, bytes), summed
    /// over the nodes that answer.
    pub fn cluster_sent(&self) -> Option<(u64, u64, u64)> {
        if self.nodes.len() < 2 {
            return None;
        }
        let mut sum = (0, 0, 0);
        for node in &self.nodes {
            let Some(sent) = health(node.addr).map(|h| h["cluster"]["sent"].clone()) else { continue };
            let get = |k: &str| sent[k].as_u64().unwrap_or(0);
            sum = (sum.0 + get("batches"), sum.1 + get("items"), sum.2 + get("bytes"));
        }
        Some(sum)
    }

    /// Resident memory in KiB (VmRSS), of all nodes.
    pub fn rss_kib(&self) -> u64 {
        self.nodes.iter().map(Node::rss_kib).sum()
    }

    /// CPU time used so far (user + system), in seconds, by all nodes.
    pub fn cpu_secs(&self) -> f64 {
        self.nodes.iter().map(Node::cpu_secs).sum()
    }

    /// SIGTERM to every node, and wait.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }
}

/// The node's `GET /healthz` document.
fn health(addr: SocketAddr) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()
}

/// How many routes to other nodes the node at `addr` has.
fn routes(addr: SocketAddr) -> Option<usize> {
    Some(health(addr)?["cluster"]["routes"].as_array()?.len())
}

impl Node {
    fn spawn(&mut self) {
        let (program, mut args): (PathBuf, Vec<String>) = match self.kind {
            Kind::Xinshi => (self.spec.bin.clone(), vec!["serve".into()]),
            Kind::Baseline => {
                let me = std::env::current_exe().unwrap_or_else(|e| fail(e));
                (me, vec!["baseline-server".into(), "--listen".into(), self.addr.to_string()])
            }
        };
        let mut command = match &self.spec.cpus {
            Some(cpus) => {
                args.splice(0..0, ["-c".to_string(), cpus.clone(), program.display().to_string()]);
                Command::new("taskset")
            }
            None => Command::new(&program),
        };
        command
            .args(&args)
            .env("XINSHI_SERVER_LISTEN", self.addr.to_string())
            .env("XINSHI_STORAGE_DATA_DIR", &self.data_dir)
            .env("XINSHI_APP_ID", APP_ID)
            .env("XINSHI_LOG", "warn")
            // Load clients send far more than an app's users may, and log in by the
            // thousand from a few addresses; lift the per-client, per-socket and per-IP
            // rate limits (--server-env can set them again).
            .env("XINSHI_LIMITS_SEND_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_HISTORY_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_OPS_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_RECEIPTS_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_IP_LOGINS_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_IP_CREATES_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_SOCKET_CREATES_PER_MINUTE", "0")
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .envs(self.cluster_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        die_with_parent(&mut command);
        let child = command.spawn().unwrap_or_else(|e| fail(format!("cannot start {}: {e}", program.display())));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                fail(format!("the {:?} server did not listen on {} within 60 s", self.kind, self.addr));
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                fail(format!("the {:?} server exited: {status}", self.kind));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12].iter().filter_map(|&n| fields.get(n)?.parse::<u64>().ok()).sum();
        ticks as f64 / 100.0
    }

    /// SIGKILL: no shutdown, no flush — a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Has the kernel kill the child (SIGKILL) when this process ends, however it ends: a run
/// that fails with `exit` or is interrupted must not leave servers or workers behind.
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}
