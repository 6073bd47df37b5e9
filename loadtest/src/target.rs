//! The server under test as a child process: xinshi, or the bare baseline server. It can be
//! pinned to CPUs with `taskset`, measured through /proc, killed with SIGKILL and restarted
//! on the same port and data directory.

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
        Spec { bin, cpus: args.opt("server-cpus"), env }
    }
}

pub struct Target {
    pub kind: Kind,
    spec: Spec,
    pub addr: SocketAddr,
    data_dir: PathBuf,
    child: Option<Child>,
}

pub const APP_ID: &str = "loadtest";

impl Target {
    pub fn start(kind: Kind, spec: &Spec, data_dir: &Path) -> Target {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let port = port.unwrap_or_else(|e| fail(format!("no free port: {e}")));
        let mut target = Target {
            kind,
            spec: spec.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            data_dir: data_dir.to_path_buf(),
            child: None,
        };
        target.spawn();
        target
    }

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

impl Drop for Target {
    fn drop(&mut self) {
        self.kill9();
    }
}
