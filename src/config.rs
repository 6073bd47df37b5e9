//! Configuration: one typed struct, read from a TOML file, then overridden by `XINSHI_*`
//! environment variables.
//!
//! Every field is documented here and in `config/xinshi.toml`. An environment variable
//! `XINSHI_<SECTION>_<FIELD>` (upper case) overrides `[section] field`, e.g.
//! `XINSHI_SERVER_LISTEN=0.0.0.0:8080` or `XINSHI_APP_MASTER_KEY=…`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration. Defaults work on a laptop with nothing else installed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub app: AppConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub security: SecurityConfig,
    pub features: FeaturesConfig,
}

/// `[server]`: where to listen and how clients reach us.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on for plain HTTP and WebSocket (`ws://`). Port 0 picks a free
    /// port. Empty: no plain listener (then `tls_listen` must be set).
    pub listen: String,
    /// Address to listen on for HTTPS and `wss://`. Empty: no TLS listener.
    pub tls_listen: String,
    /// PEM file with the certificate chain for `tls_listen` (leaf first).
    pub tls_cert: PathBuf,
    /// PEM file with the private key for `tls_listen` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: PathBuf,
    /// The base URL clients use to reach this server (`http://host:port` or `https://…`).
    /// Router answers (`/v1/route`) are built from it. Empty: derived from `listen`.
    pub public_url: String,
    /// HTTP/WebSocket worker threads. 0: one per CPU core.
    pub workers: usize,
    /// Threads of the core runtime that runs conversation actors. 0: one per CPU core.
    pub core_threads: usize,
    /// Run the server's threads under Linux's SCHED_BATCH policy: a thread woken by
    /// another does not preempt it at once, so work is handed over in batches instead of a
    /// context switch per message (measured: docs/benchmarks.md). Set by the `xinshi`
    /// binary for the whole process; ignored elsewhere.
    pub batch_scheduling: bool,
}

/// `[app]`: the LeanCloud app this server stands in for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// App ID (`appId` in the SDKs, `X-LC-Id` on REST).
    pub id: String,
    /// App Key: client-side REST key (`X-LC-Key`).
    pub key: String,
    /// Master Key: server-side secret (REST admin calls, signature HMAC key).
    pub master_key: String,
}

/// `[storage]`: the embedded store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory of the embedded store; created if missing.
    pub data_dir: PathBuf,
    /// Most appends merged into one durable commit by the commit pipeline.
    pub max_batch: usize,
    /// Start even if the journal is damaged beyond a torn tail, or is missing or shorter
    /// than the store's own record says: the journal is cut at the first damage and what
    /// was after it is lost. Off: such a store refuses to start with an error naming the
    /// file. `xinshi serve --repair-journal` sets it for one run.
    pub repair_journal: bool,
}

/// `[limits]`: timeouts and sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// A socket that opens no session within this many seconds is closed with 4108.
    pub login_timeout_secs: u64,
    /// A socket that sends nothing (no frame, no ping, no echo) for this long is closed
    /// with 4107. Clients ping every 180 s.
    pub read_timeout_secs: u64,
    /// Largest WebSocket frame accepted; a bigger one closes the socket with 4109.
    pub max_frame_bytes: usize,
    /// Largest message content (`msg` + `binaryMsg` + `pushData`); bigger sends get 4109.
    pub max_message_bytes: usize,
    /// Most members of a normal conversation (4304 beyond).
    pub max_members: usize,
    /// Bytes queued for one socket before it is treated as a slow reader and closed.
    pub outbound_queue_bytes: usize,
    /// Lifetime of the IM session token (`st`) handed out on login, in seconds.
    pub session_token_ttl_secs: u64,
    /// Most open WebSockets; a connection beyond it is refused with HTTP 503. 0: derived
    /// from the process's open-file limit (RLIMIT_NOFILE, raised to its hard limit at start)
    /// minus a reserve for the store and listeners; a larger value is lowered to that.
    pub max_connections: usize,
    /// Messages (`direct`) one client may send per minute (0: no limit).
    pub send_per_minute: u32,
    /// History queries (`logs`) and other read-only queries (conversations, online status,
    /// blacklists, mute lists) one client may make per minute (0: no limit).
    pub history_per_minute: u32,
    /// Other operations (login, creating, joining and changing conversations, blacklist and
    /// mute changes) one client may make per minute (0: no limit). Receipts, `echo` and
    /// logout are not counted.
    pub ops_per_minute: u32,
    /// A conversation actor with nothing to do for this many seconds stops.
    pub conversation_idle_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            tls_listen: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            public_url: String::new(),
            workers: 0,
            core_threads: 0,
            batch_scheduling: true,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig { id: "xinshi-dev".into(), key: "xinshi-dev-key".into(), master_key: "xinshi-dev-master-key".into() }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { data_dir: PathBuf::from("./data"), max_batch: 1024, repair_journal: false }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            login_timeout_secs: 60,
            read_timeout_secs: 400,
            max_frame_bytes: 64 * 1024,
            max_message_bytes: 5 * 1024,
            max_members: 500,
            outbound_queue_bytes: 4 * 1024 * 1024,
            session_token_ttl_secs: 86_400,
            max_connections: 0,
            send_per_minute: 60,
            history_per_minute: 120,
            ops_per_minute: 30,
            conversation_idle_secs: 300,
        }
    }
}

/// `[security]`: the per-app switches of LeanCloud's console (spec/leancloud-im.md §2.4, §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// `session/open` (and `session/refresh`) must carry a login signature, else 4102.
    /// A reconnect that presents a valid session token needs none.
    pub login_signature: bool,
    /// `conv/start`, `conv/add` and `conv/remove` must carry a signature, else 4302.
    pub conversation_signature: bool,
    /// `blacklist/block` and `blacklist/unblock` must carry a signature, else 4546.
    pub blacklist_signature: bool,
    /// How long a signature stays valid, either side of the server's clock, in seconds.
    pub signature_ttl_secs: u64,
    /// Web security domains: when not empty, a WebSocket whose `Origin` header is not one of
    /// these (`https://app.example.com`) is refused with close code 4110 INVALID_ORIGIN.
    /// Clients that send no `Origin` (native SDKs, Node) are not affected.
    pub allowed_origins: Vec<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            login_signature: false,
            conversation_signature: false,
            blacklist_signature: false,
            signature_ttl_secs: 6 * 3600,
            allowed_origins: Vec::new(),
        }
    }
}

/// `[features]`: optional features LeanCloud's console switched on per app (§2.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Conversation and client blacklists (`blacklist` commands); off: 4544.
    pub blacklist: bool,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path` (if given), then applies `XINSHI_*` overrides from the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?
            }
            None => String::new(),
        };
        Config::from_toml_and_env(&text, |name| std::env::var(name).ok())
    }

    /// Parses TOML text and applies overrides looked up by `env` (a variable name → value).
    pub fn from_toml_and_env(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let parsed: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        // Round-trip through a TOML table so every field can be overridden by name.
        let mut table = toml::Table::try_from(&parsed).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (section, fields) in table.iter_mut() {
            let Some(fields) = fields.as_table_mut() else { continue };
            for (field, value) in fields.iter_mut() {
                let name = format!("XINSHI_{section}_{field}").to_uppercase();
                if let Some(raw) = env(&name) {
                    *value = override_value(value, &raw)
                        .ok_or_else(|| ConfigError::Invalid(format!("{name}={raw:?} is not a valid value")))?;
                }
            }
        }
        let config: Config = table.try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.app.id.is_empty() {
            return Err(ConfigError::Invalid("app.id must not be empty".into()));
        }
        let server = &self.server;
        if server.listen.is_empty() && server.tls_listen.is_empty() {
            return Err(ConfigError::Invalid("set server.listen, server.tls_listen or both".into()));
        }
        if !server.tls_listen.is_empty()
            && (server.tls_cert.as_os_str().is_empty() || server.tls_key.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid("server.tls_listen needs server.tls_cert and server.tls_key".into()));
        }
        if self.security.signature_ttl_secs == 0 {
            return Err(ConfigError::Invalid("security.signature_ttl_secs must be at least 1".into()));
        }
        if self.storage.max_batch == 0 {
            return Err(ConfigError::Invalid("storage.max_batch must be at least 1".into()));
        }
        Ok(())
    }
}

/// Parses `raw` as a value of the same TOML type as `current`.
fn override_value(current: &toml::Value, raw: &str) -> Option<toml::Value> {
    Some(match current {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().ok()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().ok()?),
        toml::Value::Float(_) => toml::Value::Float(raw.trim().parse().ok()?),
        // A list from the environment is comma-separated.
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| toml::Value::String(s.into())).collect(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let config = Config::from_toml_and_env("", |_| None).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.storage.data_dir, PathBuf::from("./data"));
        assert_eq!(config.limits.max_message_bytes, 5120);
    }

    #[test]
    fn file_then_environment() {
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\n[app]\nid = \"from-file\"\n";
        let env = |name: &str| match name {
            "XINSHI_APP_ID" => Some("from-env".to_string()),
            "XINSHI_LIMITS_MAX_MEMBERS" => Some("20".to_string()),
            "XINSHI_STORAGE_DATA_DIR" => Some("/var/lib/xinshi".to_string()),
            "XINSHI_SECURITY_ALLOWED_ORIGINS" => Some("https://a.example, https://b.example".to_string()),
            _ => None,
        };
        let config = Config::from_toml_and_env(text, env).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:9000");
        assert_eq!(config.app.id, "from-env");
        assert_eq!(config.limits.max_members, 20);
        assert_eq!(config.storage.data_dir, PathBuf::from("/var/lib/xinshi"));
        assert_eq!(config.security.allowed_origins, ["https://a.example", "https://b.example"]);
    }

    #[test]
    fn bad_values_are_reported() {
        let env = |name: &str| (name == "XINSHI_LIMITS_MAX_MEMBERS").then(|| "many".to_string());
        let err = Config::from_toml_and_env("", env).unwrap_err();
        assert!(err.to_string().contains("XINSHI_LIMITS_MAX_MEMBERS"), "{err}");
        let err = Config::from_toml_and_env("[server]\nlisten_on = 1\n", |_| None).unwrap_err();
        assert!(err.to_string().contains("listen_on"), "{err}");
    }

    #[test]
    fn shipped_config_file_parses() {
        let text = include_str!("../config/xinshi.toml");
        let shipped = Config::from_toml_and_env(text, |_| None).unwrap();
        let defaults = Config::default();
        assert_eq!(
            toml::to_string(&shipped).unwrap(),
            toml::to_string(&defaults).unwrap(),
            "config/xinshi.toml should list the defaults"
        );
    }
}
