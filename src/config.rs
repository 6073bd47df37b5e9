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
    pub query: QueryConfig,
    pub cluster: ClusterConfig,
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

/// Which key-value engine holds the data ([`crate::store::kv`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// fjall in `data_dir`: one process, nothing to install.
    #[default]
    Embedded,
    /// PostgreSQL at `postgres_url`, shareable by several processes.
    Postgres,
    /// FoundationDB (`--features fdb`) through `fdb_cluster_file`.
    Fdb,
}

/// `[storage]`: where the data lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `embedded` (default), `postgres` or `fdb`.
    pub engine: EngineKind,
    /// For `postgres`: a libpq-style URL, e.g. `postgres://xinshi:secret@db:5432/xinshi`.
    pub postgres_url: String,
    /// For `postgres`: most connections this process opens (opened on demand). A
    /// transaction or snapshot holds one until it ends; the commit pipeline needs one.
    pub postgres_connections: usize,
    /// For `fdb`: the cluster file; empty means FoundationDB's default.
    pub fdb_cluster_file: String,
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
    /// Largest `direct` command (content, `pushData`, mentions, client token and the rest);
    /// bigger sends get 4109.
    pub max_message_bytes: usize,
    /// Most members of a normal conversation (4304 beyond).
    pub max_members: usize,
    /// Largest a conversation's attributes (`name` and custom keys, as JSON) may grow
    /// through `conv/update` (4306 beyond).
    pub max_attr_bytes: usize,
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
    /// Receive-acks and `read` marks (one per conversation named) one client may send per
    /// minute (0: no limit). Over it they are dropped (answered with 4116 when they carry `i`).
    pub receipts_per_minute: u32,
    /// Most conversation actors running on this node; past it the least recently used idle
    /// ones stop first.
    pub max_conversation_actors: usize,
    /// Most logouts (`session/close`) whose tokens this process remembers in memory, newest
    /// first. Tokens themselves are signed, not kept; every logout is also in the store,
    /// where every process finds it.
    pub max_session_tokens: usize,
    /// Most clients logged in on one WebSocket at a time (4103 beyond).
    pub max_clients_per_socket: usize,
    /// Logins (`session/open`) one WebSocket may make per minute (0: no limit; 4116 beyond).
    pub socket_logins_per_minute: u32,
    /// Conversations (`conv/start`) the clients of one WebSocket may create per minute.
    pub socket_creates_per_minute: u32,
    /// Logins one IP address may make per minute, over all its sockets (0: no limit).
    pub ip_logins_per_minute: u32,
    /// Conversations the clients of one IP address may create per minute (0: no limit).
    pub ip_creates_per_minute: u32,
    /// Kept membership notifications (`GET /1.1/rtm/notifications`) older than this are
    /// no longer returned and are deleted in the background, in seconds.
    pub notification_ttl_secs: u64,
    /// Largest reply (one encoded command) sent to a client. A reply bigger than
    /// `outbound_queue_bytes` but within this is queued beside the backlog; a bigger one is
    /// replaced by an error with the request's `i` (4310 for `conv/query`, 4311 for `logs`,
    /// 4200 otherwise).
    pub max_reply_bytes: usize,
    /// Bytes queued for all sockets of the node together (0: no bound). Past it, the
    /// sockets holding the most are closed with 1008 until the total is under it again.
    pub outbound_total_bytes: usize,
    /// A socket whose outbound queue holds bytes and has not written a frame for this many
    /// seconds is closed with 1008 (0: never).
    pub outbound_stall_secs: u64,
    /// Lifetime of a temporary conversation (`conv/start` with `tempConv`) whose creator
    /// names no `tempConvTTL` (or one of 0 or less), in seconds.
    pub temp_conversation_ttl_secs: u64,
    /// Longest lifetime a temporary conversation may ask for, in seconds; a longer
    /// `tempConvTTL` is cut to it.
    pub max_temp_conversation_ttl_secs: u64,
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

impl StorageConfig {
    /// Where the data is, for messages: the data directory, or the engine's name.
    pub fn location(&self) -> String {
        match self.engine {
            EngineKind::Embedded => self.data_dir.display().to_string(),
            EngineKind::Postgres => "PostgreSQL (storage.postgres_url)".into(),
            EngineKind::Fdb => "FoundationDB (storage.fdb_cluster_file)".into(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            engine: EngineKind::Embedded,
            postgres_url: String::new(),
            postgres_connections: 8,
            fdb_cluster_file: String::new(),
            data_dir: PathBuf::from("./data"),
            max_batch: 1024,
            repair_journal: false,
        }
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
            max_attr_bytes: 64 * 1024,
            outbound_queue_bytes: 4 * 1024 * 1024,
            session_token_ttl_secs: 86_400,
            max_connections: 0,
            send_per_minute: 60,
            history_per_minute: 120,
            ops_per_minute: 30,
            conversation_idle_secs: 300,
            receipts_per_minute: 1200,
            max_conversation_actors: 50_000,
            max_session_tokens: 200_000,
            max_clients_per_socket: 64,
            socket_logins_per_minute: 60,
            socket_creates_per_minute: 60,
            ip_logins_per_minute: 600,
            ip_creates_per_minute: 600,
            notification_ttl_secs: 30 * 86_400,
            max_reply_bytes: 8 * 1024 * 1024,
            outbound_total_bytes: 256 * 1024 * 1024,
            outbound_stall_secs: 30,
            temp_conversation_ttl_secs: 86_400,
            max_temp_conversation_ttl_secs: 30 * 86_400,
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
    /// `session/open` without a client id makes an anonymous login (the server picks the id).
    /// Off: such a login gets 4103.
    pub anonymous_login: bool,
    /// REST calls signed with `X-LC-Sign` must carry a timestamp within this many seconds of
    /// the server's clock (401 otherwise).
    pub rest_sign_window_secs: u64,
    /// Most login-signature nonces remembered (each for the signature's lifetime) so that a
    /// signature cannot open a session twice. Past it the oldest are forgotten and signatures
    /// no newer than them are refused.
    pub max_remembered_nonces: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            login_signature: false,
            conversation_signature: false,
            blacklist_signature: false,
            signature_ttl_secs: 6 * 3600,
            allowed_origins: Vec::new(),
            anonymous_login: true,
            rest_sign_window_secs: 15 * 60,
            max_remembered_nonces: 1_000_000,
        }
    }
}

/// `[features]`: optional features LeanCloud's console switched on per app (§2.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Conversation and client blacklists (`blacklist` commands); off: 4544.
    pub blacklist: bool,
    /// Member roles (Owner / Manager / Member, F-ROLE): `conv/member_info_update`, and
    /// adding, removing, muting and blocking others only by Owner and Managers; off: 4325,
    /// and any member may do those (docs/decisions.md, "Member roles").
    pub member_roles: bool,
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
        let cluster = &self.cluster;
        if !cluster.listen.is_empty() && cluster.cookie.is_empty() {
            return Err(ConfigError::Invalid("cluster.listen needs cluster.cookie".into()));
        }
        let tls = [&cluster.tls_cert, &cluster.tls_key, &cluster.tls_ca].map(|p| !p.as_os_str().is_empty());
        if tls.contains(&true) && tls.contains(&false) {
            return Err(ConfigError::Invalid("cluster TLS needs all of cluster.tls_cert, tls_key and tls_ca".into()));
        }
        let listen_host = cluster.listen.rsplit_once(':').map_or("", |(host, _)| host.trim_matches(['[', ']']));
        if cluster.advertise.is_empty() && ["0.0.0.0", "::"].contains(&listen_host) {
            return Err(ConfigError::Invalid(format!(
                "cluster.listen {:?} binds every interface, which other nodes cannot dial: set cluster.advertise \
                 to this node's host name or address",
                cluster.listen
            )));
        }
        if !cluster.listen.is_empty() && self.storage.engine == EngineKind::Embedded {
            return Err(ConfigError::Invalid(
                "a cluster needs a store its nodes share: storage.engine = \"postgres\" or \"fdb\"".into(),
            ));
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

/// `[query]`: what one `conv/query` may cost (issue 9). A query past a bound gets 4310
/// CONVERSATION_QUERY_FAILED with the bound named in the detail. The condition bounds
/// default to [`crate::query::Budget`]'s values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Most clauses in a `where` (every field test and every entry of an `$and` / `$or`).
    pub max_clauses: usize,
    /// Most operands in the lists of `$in`, `$nin` and `$all`, summed over the `where`.
    pub max_operands: usize,
    /// Most levels of `$and` / `$or` nesting.
    pub max_depth: usize,
    /// Most `$regex` tests in a `where`.
    pub max_regexes: usize,
    /// Most bytes one `$regex` may compile to.
    pub regex_size_limit: usize,
    /// Most bytes of lazy-DFA cache one `$regex` may use while matching.
    pub regex_dfa_size_limit: usize,
    /// Most keys in a `sort`.
    pub max_sort_keys: usize,
    /// Most conversations one query looks at (the candidates its `objectId` / `m` condition
    /// picks, or every conversation); past it the query fails rather than scan on.
    pub max_scanned: usize,
    /// Queries evaluated at once on this node (0: no cap); the others wait.
    pub max_concurrent: usize,
    /// How long a query waits for its turn under `max_concurrent` before it fails, in ms.
    pub queue_wait_ms: u64,
    /// Most bytes of result rows in one reply: rows past it are left for the next page
    /// (the reply has fewer rows than `limit`). A single row bigger than this is still
    /// sent alone. Used as at most half of `limits.outbound_queue_bytes`.
    pub max_reply_bytes: usize,
}

/// `[cluster]`: several xinshi nodes over one shared store (`storage.engine = "postgres"` or
/// `"fdb"`), talking through ractor_cluster. No `listen`: a single node, as without the
/// section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster. Empty: `xinshi-<node id>` (the id the store
    /// hands out at every start).
    pub name: String,
    /// `host:port` the node-to-node listener binds. Empty: no cluster.
    pub listen: String,
    /// The host (name or address) other nodes dial to reach this one, on `listen`'s port;
    /// told to peers, which pass it on. Empty: `listen`'s host — required when `listen` binds
    /// every interface (`0.0.0.0`, `[::]`), which peers cannot dial.
    pub advertise: String,
    /// Node-to-node addresses of other members to dial at start, and again while they are
    /// away. One reachable seed is enough: members learn each other from it.
    pub seeds: Vec<String>,
    /// Secret every member presents when nodes connect (ractor_cluster's cookie). Required
    /// with `listen`.
    pub cookie: String,
    /// TLS between the nodes (all three, or none): this node's certificate chain and private
    /// key (PEM), and the certificate authority (PEM) every member's certificate must chain
    /// to. Both sides of every connection show a certificate (mutual TLS); a dialing node
    /// checks the other's against the host it dials (a seed's, or what the member
    /// advertises). None: node-to-node traffic is plain TCP, for a private network only.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub tls_ca: PathBuf,
    /// A member nothing was heard from for this long (every node sends at least four
    /// heartbeats a second) is disconnected and handled as lost: its conversations move
    /// to the others. Covers a node that stopped without closing its connections.
    pub suspect_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: String::new(),
            listen: String::new(),
            advertise: String::new(),
            seeds: Vec::new(),
            cookie: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_ca: PathBuf::new(),
            suspect_ms: 3000,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        let budget = crate::query::Budget::default();
        QueryConfig {
            max_clauses: budget.max_clauses,
            max_operands: budget.max_operands,
            max_depth: budget.max_depth,
            max_regexes: budget.max_regexes,
            regex_size_limit: budget.regex_size_limit,
            regex_dfa_size_limit: budget.regex_dfa_size_limit,
            max_sort_keys: budget.max_sort_keys,
            max_scanned: 20_000,
            max_concurrent: 4,
            queue_wait_ms: 2000,
            max_reply_bytes: 1024 * 1024,
        }
    }
}

impl QueryConfig {
    /// The bounds on a parsed condition.
    pub fn budget(&self) -> crate::query::Budget {
        crate::query::Budget {
            max_clauses: self.max_clauses,
            max_operands: self.max_operands,
            max_depth: self.max_depth,
            max_regexes: self.max_regexes,
            regex_size_limit: self.regex_size_limit,
            regex_dfa_size_limit: self.regex_dfa_size_limit,
            max_sort_keys: self.max_sort_keys,
        }
    }
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
    fn a_cluster_needs_a_cookie_and_a_shared_store() {
        let cluster = "[cluster]\nlisten = \"127.0.0.1:7000\"\n";
        let err = Config::from_toml_and_env(cluster, |_| None).unwrap_err();
        assert!(err.to_string().contains("cookie"), "{err}");
        let with_cookie = format!("{cluster}cookie = \"c\"\n");
        let err = Config::from_toml_and_env(&with_cookie, |_| None).unwrap_err();
        assert!(err.to_string().contains("share"), "{err}");
        let shared = format!("[storage]\nengine = \"postgres\"\n{with_cookie}seeds = [\"127.0.0.1:7001\"]\n");
        let config = Config::from_toml_and_env(&shared, |_| None).unwrap();
        assert_eq!(config.cluster.seeds, ["127.0.0.1:7001"]);
        assert!(Config::from_toml_and_env("", |_| None).unwrap().cluster.listen.is_empty(), "off by default");
        // Every interface: peers need an address they can dial.
        let everywhere = shared.replace("127.0.0.1:7000", "0.0.0.0:7000");
        let err = Config::from_toml_and_env(&everywhere, |_| None).unwrap_err();
        assert!(err.to_string().contains("cluster.advertise"), "{err}");
        let advertised = format!("{everywhere}advertise = \"node-1.internal\"\n");
        assert_eq!(Config::from_toml_and_env(&advertised, |_| None).unwrap().cluster.advertise, "node-1.internal");
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
