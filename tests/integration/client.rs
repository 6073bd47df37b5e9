//! A test server on an ephemeral port with a temporary data directory, and a raw-protocol
//! WebSocket client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use xinshi::clock::{Clock, SystemClock};
use xinshi::config::{Config, EngineKind};
use xinshi::protocol::frame;
use xinshi::protocol::*;
use xinshi::server::Server;

/// How long a test waits for something that should arrive before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub const APP_ID: &str = "test-app";

pub struct TestServer {
    pub server: Option<Server>,
    /// Kept so the data directory lives as long as the server.
    _dir: tempfile::TempDir,
    pub config: Config,
    clock: Arc<dyn Clock>,
    /// On PostgreSQL: the admin URL the server's database was created through.
    pg_admin: Option<String>,
}

/// The admin URL of the PostgreSQL server the tests run against when
/// `XINSHI_TEST_ENGINE=postgres` (tests/run runs the integration tests once per engine);
/// `None` for the embedded engine.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("XINSHI_TEST_ENGINE").as_deref() {
        Ok("postgres") => Some(
            std::env::var("XINSHI_TEST_POSTGRES_URL")
                .expect("XINSHI_TEST_ENGINE=postgres needs XINSHI_TEST_POSTGRES_URL (tests/run starts a PostgreSQL)"),
        ),
        Ok("embedded") | Err(_) => None,
        Ok(other) => panic!("XINSHI_TEST_ENGINE={other}: expected embedded or postgres"),
    }
}

/// For tests about the embedded engine itself (its journal, its files, its fault hooks):
/// true, with a notice, when the tests run on PostgreSQL; the test then returns.
pub fn embedded_only(test: &str) -> bool {
    let skip = postgres_admin_url().is_some();
    if skip {
        eprintln!("{test}: skipped on PostgreSQL (a test of the embedded engine)");
    }
    skip
}

/// A fresh database on the test PostgreSQL server: its URL.
pub fn fresh_database(admin: &str) -> String {
    xinshi::store::kv::create_test_database(admin).expect("create a test database")
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    pub fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with_clock(adjust, Arc::new(SystemClock))
    }

    /// A server whose time is `clock` (a [`ManualClock`] for expiry tests).
    pub fn start_with_clock(adjust: impl FnOnce(&mut Config), clock: Arc<dyn Clock>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.server.workers = 2;
        config.server.core_threads = 2;
        config.app.id = APP_ID.into();
        config.storage.data_dir = dir.path().join("data");
        let pg_admin = postgres_admin_url();
        if let Some(admin) = &pg_admin {
            config.storage.engine = EngineKind::Postgres;
            config.storage.postgres_url = fresh_database(admin);
            config.storage.postgres_connections = 4;
        }
        adjust(&mut config);
        let server = Server::start_with_clock(config.clone(), clock.clone()).expect("server starts");
        TestServer { server: Some(server), _dir: dir, config, clock, pg_admin }
    }

    pub fn ws_url(&self) -> String {
        self.server.as_ref().unwrap().ws_url()
    }

    pub fn http_url(&self) -> String {
        self.server.as_ref().unwrap().http_url()
    }

    pub fn node(&self) -> &Arc<xinshi::node::Node> {
        self.server.as_ref().unwrap().node()
    }

    /// Stops the server (gracefully) and starts it again on the same data directory.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().stop().await.unwrap();
        let mut config = self.config.clone();
        config.server.listen = "127.0.0.1:0".into();
        self.server = Some(Server::start_with_clock(config, self.clock.clone()).expect("server restarts"));
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(admin) = &self.pg_admin {
            let _ = xinshi::store::kv::drop_test_database(admin, &self.config.storage.postgres_url);
        }
    }
}

/// For tests that send more than a client may per minute (tests/integration/limits.rs
/// covers the limits themselves).
pub fn no_rate_limits(config: &mut Config) {
    config.limits.send_per_minute = 0;
    config.limits.history_per_minute = 0;
    config.limits.ops_per_minute = 0;
    config.limits.receipts_per_minute = 0;
    config.limits.socket_logins_per_minute = 0;
    config.limits.socket_creates_per_minute = 0;
    config.limits.ip_logins_per_minute = 0;
    config.limits.ip_creates_per_minute = 0;
}

/// One WebSocket speaking the LeanCloud protocol.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_i: i32,
    base64: bool,
    /// Frames received while waiting for something else.
    pub inbox: VecDeque<GenericCommand>,
}

/// What arrived instead of a command.
#[derive(Debug)]
pub enum Closed {
    Frame(Option<CloseFrame>),
    Eof,
}

impl Client {
    pub async fn connect(server: &TestServer) -> Client {
        Client::connect_with(&server.ws_url(), Some("lc.protobuf2.3")).await.expect("websocket connects")
    }

    pub async fn connect_with(url: &str, subprotocol: Option<&str>) -> Result<Client, tungstenite::Error> {
        Client::connect_with_headers(url, subprotocol, &[]).await
    }

    /// Connects with extra request headers (`Origin`, …).
    pub async fn connect_with_headers(
        url: &str,
        subprotocol: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Result<Client, tungstenite::Error> {
        let mut request = url.into_client_request()?;
        if let Some(protocol) = subprotocol {
            request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol).unwrap());
        }
        for (name, value) in headers {
            request.headers_mut().insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        let echoed = response.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(echoed.as_deref(), subprotocol, "the server names the subprotocol it chose (only if offered)");
        let base64 = echoed.is_some_and(|p| p.contains("base64")) || url.contains("proto2base64");
        Ok(Client { ws, next_i: 0, base64, inbox: VecDeque::new() })
    }

    /// Connects with a 4 KiB receive buffer (for a client that stops reading).
    pub async fn connect_small_buffer(server: &TestServer) -> Client {
        let addr = server.ws_url().trim_start_matches("ws://").trim_end_matches('/').parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let mut request = server.ws_url().into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("lc.protobuf2.3"));
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await.unwrap();
        Client { ws, next_i: 0, base64: false, inbox: VecDeque::new() }
    }

    /// Sends a request with the next `i` without waiting for the reply; returns the `i`.
    pub async fn send_request(&mut self, mut cmd: GenericCommand) -> i32 {
        self.next_i += 1;
        cmd.i = Some(self.next_i);
        self.send(&cmd).await;
        self.next_i
    }

    /// Connects and logs `client_id` in; returns the socket with the `unread` push consumed
    /// (an event still on its way from before the login may come first; it stays in `inbox`).
    pub async fn login(server: &TestServer, client_id: &str) -> Client {
        Client::login_at(&server.ws_url(), client_id).await
    }

    /// [`Client::login`] to the server at `url`.
    pub async fn login_at(url: &str, client_id: &str) -> Client {
        let mut client = Client::connect_with(url, Some("lc.protobuf2.3")).await.expect("websocket connects");
        let opened = client.request(open(client_id)).await;
        assert_eq!(opened.op, Some(OpType::Opened as i32), "{opened:?}");
        client.next_push_of(CommandType::Unread).await;
        client
    }

    /// Sends raw bytes as one binary frame.
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }

    /// Sends a command as is (no `i` added).
    pub async fn send(&mut self, cmd: &GenericCommand) {
        let bytes = cmd.encode_to_vec();
        let msg =
            if self.base64 { Message::Text(frame::to_base64(&bytes).into()) } else { Message::Binary(bytes.into()) };
        self.ws.send(msg).await.unwrap();
    }

    /// Sends a request with the next `i` and returns the reply carrying that `i`; pushes
    /// that arrive meanwhile are kept in `inbox`.
    pub async fn request(&mut self, mut cmd: GenericCommand) -> GenericCommand {
        self.next_i += 1;
        let i = self.next_i;
        cmd.i = Some(i);
        self.send(&cmd).await;
        loop {
            let got = self.recv().await.unwrap_or_else(|closed| panic!("closed while waiting for i={i}: {closed:?}"));
            if got.i == Some(i) {
                return got;
            }
            self.inbox.push_back(got);
        }
    }

    /// The reply carrying `i` (of a [`Client::send_request`]); other frames stay in `inbox`.
    pub async fn reply_to(&mut self, i: i32) -> GenericCommand {
        if let Some(pos) = self.inbox.iter().position(|c| c.i == Some(i)) {
            return self.inbox.remove(pos).unwrap();
        }
        loop {
            let got = self.recv().await.unwrap_or_else(|closed| panic!("closed while waiting for i={i}: {closed:?}"));
            if got.i == Some(i) {
                return got;
            }
            self.inbox.push_back(got);
        }
    }

    /// The next frame without `i` (a push).
    pub async fn next_push(&mut self) -> GenericCommand {
        if let Some(pos) = self.inbox.iter().position(|c| c.i.is_none()) {
            return self.inbox.remove(pos).unwrap();
        }
        loop {
            let got = self.recv().await.unwrap_or_else(|closed| panic!("closed while waiting for a push: {closed:?}"));
            if got.i.is_none() {
                return got;
            }
            self.inbox.push_back(got);
        }
    }

    /// The next push of command `cmd` (other pushes stay in the inbox).
    pub async fn next_push_of(&mut self, cmd: CommandType) -> GenericCommand {
        let want = Some(cmd as i32);
        if let Some(pos) = self.inbox.iter().position(|c| c.i.is_none() && c.cmd == want) {
            return self.inbox.remove(pos).unwrap();
        }
        loop {
            let got = self.recv().await.unwrap_or_else(|closed| panic!("closed while waiting for {cmd:?}: {closed:?}"));
            if got.i.is_none() && got.cmd == want {
                return got;
            }
            self.inbox.push_back(got);
        }
    }

    /// Asserts nothing arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        assert!(self.inbox.is_empty(), "unexpected: {:?}", self.inbox);
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(ms), self.recv()).await {
            panic!("unexpected frame: {got:?}");
        }
    }

    /// The next command, or how the socket closed.
    pub async fn recv(&mut self) -> Result<GenericCommand, Closed> {
        loop {
            let msg = match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(_))) | Ok(None) => return Err(Closed::Eof),
                Err(_) => panic!("nothing arrived within {WAIT:?}"),
            };
            match msg {
                Message::Binary(bytes) => return Ok(frame::decode_binary(&bytes).expect("server frames decode")),
                Message::Text(text) => return Ok(frame::decode_text(&text).expect("server text frames are base64")),
                Message::Close(close) => return Err(Closed::Frame(close)),
                _ => continue,
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed_code(&mut self) -> Option<u16> {
        loop {
            match self.recv().await {
                Ok(_) => continue,
                Err(Closed::Frame(frame)) => return frame.map(|f| u16::from(f.code)),
                Err(Closed::Eof) => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Waits until `done()` holds, polling; fails after [`WAIT`].
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A minimal HTTP/1.1 request; returns the status and the JSON body.
pub async fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    http_to(server.http_url().trim_start_matches("http://"), method, path, headers, body).await
}

/// [`http`] to the server at `host` (`address:port`).
pub async fn http_to(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(&host).await.unwrap();
    let mut head: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        head += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    }
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{head}Connection: close\r\n\r\n{body}");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Headers of a master-key REST call.
pub fn master_headers(server: &TestServer) -> Vec<(&'static str, String)> {
    vec![("X-LC-Id", APP_ID.to_string()), ("X-LC-Key", format!("{},master", server.config.app.master_key))]
}

// Command builders.

pub fn open(client_id: &str) -> GenericCommand {
    GenericCommand {
        app_id: Some(APP_ID.into()),
        peer_id: Some(client_id.into()),
        session_message: Some(SessionCommand {
            ua: Some("xinshi-tests".into()),
            config_bitmap: Some(187),
            ..Default::default()
        }),
        ..frame::command(CommandType::Session, Some(OpType::Open))
    }
}

pub fn start_conv(members: &[&str], unique: bool, attrs: &str) -> GenericCommand {
    GenericCommand {
        conv_message: Some(ConvCommand {
            m: members.iter().map(|m| m.to_string()).collect(),
            unique: Some(unique),
            attr: Some(JsonObjectMessage { data: attrs.into() }),
            ..Default::default()
        }),
        ..frame::command(CommandType::Conv, Some(OpType::Start))
    }
}

/// A `conv` command naming a conversation and members (`add`, `remove`, `add_shutup`, …).
pub fn conv_members(op: OpType, cid: &str, m: &[&str]) -> GenericCommand {
    GenericCommand {
        conv_message: Some(ConvCommand {
            cid: Some(cid.into()),
            m: m.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Conv, Some(op))
    }
}

pub fn direct(cid: &str, text: &str, dt: Option<&str>) -> GenericCommand {
    GenericCommand {
        direct_message: Some(DirectCommand {
            cid: Some(cid.into()),
            msg: Some(text.into()),
            dt: dt.map(Into::into),
            ..Default::default()
        }),
        ..frame::command(CommandType::Direct, None)
    }
}

pub fn logs(cid: &str, adjust: impl FnOnce(&mut LogsCommand)) -> GenericCommand {
    let mut query = LogsCommand { cid: Some(cid.into()), ..Default::default() };
    adjust(&mut query);
    GenericCommand { logs_message: Some(query), ..frame::command(CommandType::Logs, None) }
}

pub fn query_convs(where_: &str, adjust: impl FnOnce(&mut ConvCommand)) -> GenericCommand {
    let mut conv = ConvCommand { where_: Some(JsonObjectMessage { data: where_.into() }), ..Default::default() };
    adjust(&mut conv);
    GenericCommand { conv_message: Some(conv), ..frame::command(CommandType::Conv, Some(OpType::Query)) }
}

pub fn read(cid: &str) -> GenericCommand {
    GenericCommand {
        read_message: Some(ReadCommand {
            convs: vec![ReadTuple { cid: cid.into(), ..Default::default() }],
            ..Default::default()
        }),
        ..frame::command(CommandType::Read, None)
    }
}

// Reply readers.

/// The `cid` of a `conv/started` reply.
pub fn started_cid(reply: &GenericCommand) -> String {
    assert_eq!(reply.op, Some(OpType::Started as i32), "{reply:?}");
    reply.conv_message.as_ref().unwrap().cid.clone().unwrap()
}

/// `(uid, t)` of an `ack` reply.
pub fn acked(reply: &GenericCommand) -> (String, i64) {
    assert_eq!(reply.cmd, Some(CommandType::Ack as i32), "{reply:?}");
    let ack = reply.ack_message.as_ref().unwrap();
    assert_eq!(ack.code, None, "{reply:?}");
    (ack.uid.clone().unwrap(), ack.t.unwrap())
}

/// The error code of an `error` reply.
pub fn error_code(reply: &GenericCommand) -> i32 {
    assert_eq!(reply.cmd, Some(CommandType::Error as i32), "expected an error: {reply:?}");
    reply.error_message.as_ref().unwrap().code
}

/// The message texts of a `logs` reply, in order.
pub fn log_texts(reply: &GenericCommand) -> Vec<String> {
    reply.logs_message.as_ref().unwrap().logs.iter().map(|l| l.data.clone().unwrap()).collect()
}

/// The conversations of a `conv/results` reply.
pub fn results(reply: &GenericCommand) -> Vec<serde_json::Value> {
    assert_eq!(reply.op, Some(OpType::Results as i32), "{reply:?}");
    serde_json::from_str(&reply.conv_message.as_ref().unwrap().results.as_ref().unwrap().data).unwrap()
}
