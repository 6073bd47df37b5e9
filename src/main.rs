//! The `xinshi` binary: `xinshi serve [--config FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;

use xinshi::config::Config;
use xinshi::server::Server;

const USAGE: &str = "usage: xinshi [serve [--config FILE]]

Runs the server. Without --config the defaults apply (see config/xinshi.toml);
XINSHI_<SECTION>_<FIELD> environment variables override any setting.";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("XINSHI_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
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
    match serve(config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xinshi: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(config_path.as_deref())?;
    if config.server.batch_scheduling {
        batch_scheduling();
    }
    let app_id = config.app.id.clone();
    let data_dir = config.storage.data_dir.clone();
    let server = Server::start(config)?;
    println!("xinshi is listening on {} (data in {})", server.addr(), data_dir.display());
    if let Some(tls) = server.tls_addr() {
        println!("xinshi is listening with TLS on {tls}");
    }
    println!("Point the JS SDK at it with:");
    println!(
        "  new Realtime({{ appId: '{app_id}', appKey: '<app key>', server: '{}', RTMServers: '{}' }})",
        server.http_url(),
        server.ws_url()
    );
    wait_for_shutdown_signal()?;
    println!("xinshi: stopping");
    server.stop_blocking()?;
    Ok(())
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

/// Blocks until SIGINT (Ctrl-C) or SIGTERM.
fn wait_for_shutdown_signal() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    })
}
