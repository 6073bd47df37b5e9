//! The `xinshi` binary: `xinshi serve [--config FILE] [--repair-journal]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use xinshi::config::Config;
use xinshi::server::Server;

const USAGE: &str = "usage: xinshi [serve [--config FILE] [--repair-journal]]

Runs the server. Without --config the defaults apply (see config/xinshi.toml);
XINSHI_<SECTION>_<FIELD> environment variables override any setting.
--repair-journal starts even on a damaged or short store journal, cutting it at the
damage (storage.repair_journal for this run; what followed the damage is lost).

Exit status: 0 after SIGINT/SIGTERM, 1 when the server cannot start, 2 on bad usage,
70 when the store failed while running (restart it: nothing acknowledged is lost).";

/// Exit status when the store failed for good while running (EX_SOFTWARE): a supervisor
/// restarts the process, which reopens the store from its journal.
const EXIT_STORE_FAILED: u8 = 70;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("XINSHI_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let repair = args.iter().any(|a| a == "--repair-journal");
    args.retain(|a| a != "--repair-journal");
    let config_path = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => None,
        ["serve", "--config", path] => Some(PathBuf::from(path)),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(config_path, repair) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(why)) => {
            // Never panic here (stderr may be closed or full): the exit code is what counts.
            let _ = writeln!(std::io::stderr(), "xinshi: the store failed, exiting for a restart: {why}");
            ExitCode::from(EXIT_STORE_FAILED)
        }
        Err(err) => {
            eprintln!("xinshi: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs until a signal (`Ok(None)`) or until the store fails (`Ok(Some(why))`).
fn serve(config_path: Option<PathBuf>, repair: bool) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let mut config = Config::load(config_path.as_deref())?;
    config.storage.repair_journal |= repair;
    if config.server.batch_scheduling {
        batch_scheduling();
    }
    let app_id = config.app.id.clone();
    let data_dir = config.storage.location();
    let server = Server::start(config)?;
    println!("xinshi is listening on {} (data in {data_dir})", server.addr());
    if let Some(tls) = server.tls_addr() {
        println!("xinshi is listening with TLS on {tls}");
    }
    println!("Point the JS SDK at it with:");
    println!(
        "  new Realtime({{ appId: '{app_id}', appKey: '<app key>', server: '{}', RTMServers: '{}' }})",
        server.http_url(),
        server.ws_url()
    );
    let failed = wait_for_shutdown_signal(server.failure())?;
    if failed.is_some() {
        // The error replies to the requests the failure caught are being queued: let them
        // leave before the sockets close (the server's own stop on failure waits as long).
        std::thread::sleep(xinshi::server::FAILURE_GRACE);
    }
    println!("xinshi: stopping");
    let stopped = server.stop_blocking();
    if failed.is_none() {
        stopped?;
    }
    Ok(failed)
}

/// Puts this process under SCHED_BATCH before any other thread starts, so that every
/// thread inherits it (see `batch_scheduling` in config/xinshi.toml). Best effort.
fn batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system call on the calling thread with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "SCHED_BATCH not set");
    }
}

/// Blocks until SIGINT (Ctrl-C) or SIGTERM (`None`), or until the store fails (`Some(why)`).
fn wait_for_shutdown_signal(
    mut failure: tokio::sync::watch::Receiver<Option<String>>,
) -> std::io::Result<Option<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map(|()| None),
            _ = term.recv() => Ok(None),
            Ok(why) = failure.wait_for(Option::is_some) => Ok(why.clone()),
        }
    })
}
