//! The `xinshi` binary as a child process: for tests that measure the server's memory (its
//! RSS is then not mixed with the other tests running in this process), change its process
//! limits, or watch it exit.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{APP_ID, WAIT, fresh_database, postgres_admin_url};

/// `xinshi serve` on an ephemeral 127.0.0.1 port, killed when dropped.
pub struct ChildServer {
    child: Child,
    pub addr: String,
    _dir: Option<tempfile::TempDir>,
    /// On PostgreSQL: the admin URL and the URL of the server's database.
    pg: Option<(String, String)>,
}

impl ChildServer {
    /// On a temporary data directory (or a fresh database when the tests run on
    /// PostgreSQL), with `env` (`XINSHI_*`) on top of the test defaults.
    pub fn start(env: &[(&str, &str)]) -> ChildServer {
        let dir = tempfile::tempdir().unwrap();
        let pg = postgres_admin_url().map(|admin| {
            let url = fresh_database(&admin);
            (admin, url)
        });
        let mut env = env.to_vec();
        if let Some((_, url)) = &pg {
            env.extend([("XINSHI_STORAGE_ENGINE", "postgres"), ("XINSHI_STORAGE_POSTGRES_URL", url.as_str())]);
        }
        let mut server = ChildServer::start_on(&dir.path().join("data"), &env, || Ok(()));
        server._dir = Some(dir);
        server.pg = pg;
        server
    }

    /// On `data`; `limits` runs in the child before exec (e.g. `setrlimit`).
    pub fn start_on(
        data: &Path,
        env: &[(&str, &str)],
        limits: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> ChildServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xinshi"));
        command
            .arg("serve")
            .env("XINSHI_SERVER_LISTEN", "127.0.0.1:0")
            .env("XINSHI_SERVER_WORKERS", "2")
            .env("XINSHI_SERVER_CORE_THREADS", "2")
            .env("XINSHI_SERVER_BATCH_SCHEDULING", "false")
            .env("XINSHI_APP_ID", APP_ID)
            .env("XINSHI_STORAGE_DATA_DIR", data)
            .env("XINSHI_LIMITS_SEND_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_OPS_PER_MINUTE", "0")
            .env("XINSHI_LIMITS_HISTORY_PER_MINUTE", "0")
            .env("XINSHI_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            // A pipe, not the test's stderr: that may be a file, and a child under a lowered
            // file-size limit (RLIMIT_FSIZE) must not fail on writing its log to it. Its
            // start-up errors are shown if it ends before it listens.
            .stderr(Stdio::piped());
        // SAFETY: the closure only makes async-signal-safe system calls (setrlimit, signal).
        unsafe { command.pre_exec(limits) };
        let mut child = command.spawn().expect("start the xinshi binary");
        let mut stderr = child.stderr.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let mut errors = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
                panic!("xinshi ended before listening: {:?}; it said:\n{errors}", child.wait());
            }
            if let Some(rest) = line.strip_prefix("xinshi is listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep the pipes drained.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        ChildServer { child, addr, _dir: None, pg: None }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Resident memory of the server, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Waits (up to [`WAIT`]) for the process to exit; its status code.
    pub fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "xinshi did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (`kill -9`), and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, …) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill on the pid of our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// SIGTERM, then its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill on the pid of our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.exit_code()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, url)) = &self.pg {
            let _ = xinshi::store::kv::drop_test_database(admin, url);
        }
    }
}
