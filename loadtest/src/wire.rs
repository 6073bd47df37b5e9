//! The generator's side of the LeanCloud protocol: connecting from a chosen loopback source
//! address, and the few commands it sends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use prost::Message as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use xinshi::protocol::frame;
use xinshi::protocol::*;

pub type Ws = WebSocketStream<TcpStream>;

/// Source address number `n` (0-based): 127.0.0.2, 127.0.0.3, … so that many sockets do not
/// run out of ephemeral ports on one source address.
pub fn source_ip(n: u32, spread: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (n % spread.clamp(1, 250)) as u8)
}

pub async fn connect(server: SocketAddr, source: Ipv4Addr, timeout: Duration) -> Result<Ws, String> {
    let attempt = async {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).map_err(|e| format!("bind {source}: {e}"))?;
        let stream = socket.connect(server).await.map_err(|e| format!("connect {server}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut request = format!("ws://{server}/").into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("lc.protobuf2.3"));
        // tungstenite's default 128 KiB read buffer is zeroed on every read: a quarter of the
        // generator's CPU went to that memset (perf), and it cost 128 KiB per socket.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| e.to_string())?;
        Ok(ws)
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| "connect timed out".to_string())?
}

pub fn binary(cmd: &GenericCommand) -> Message {
    Message::Binary(cmd.encode_to_vec().into())
}

/// Decodes a server frame; `None` for anything that is not a binary command.
pub fn decode(msg: &Message) -> Option<GenericCommand> {
    match msg {
        Message::Binary(bytes) => frame::decode_binary(bytes).ok(),
        _ => None,
    }
}

pub fn open(app_id: &str, client_id: &str, i: i32, reconnect: bool) -> GenericCommand {
    GenericCommand {
        app_id: Some(app_id.into()),
        peer_id: Some(client_id.into()),
        i: Some(i),
        session_message: Some(SessionCommand {
            ua: Some("xinshi-loadtest".into()),
            r: reconnect.then_some(true),
            ..Default::default()
        }),
        ..frame::command(CommandType::Session, Some(OpType::Open))
    }
}

pub fn start_conv(client_id: &str, members: Vec<String>, i: i32) -> GenericCommand {
    GenericCommand {
        peer_id: Some(client_id.into()),
        i: Some(i),
        conv_message: Some(ConvCommand { m: members, ..Default::default() }),
        ..frame::command(CommandType::Conv, Some(OpType::Start))
    }
}

pub fn direct(cid: &str, text: String, i: i32) -> GenericCommand {
    GenericCommand {
        i: Some(i),
        direct_message: Some(DirectCommand { cid: Some(cid.into()), msg: Some(text), ..Default::default() }),
        ..frame::command(CommandType::Direct, None)
    }
}

/// The SDK's receive-ack: "I have everything in `cid` up to `mid`".
pub fn receive_ack(cid: &str, mid: &str, t: i64) -> GenericCommand {
    GenericCommand {
        ack_message: Some(AckCommand {
            cid: Some(cid.into()),
            mid: Some(mid.into()),
            t: Some(t),
            ..Default::default()
        }),
        ..frame::command(CommandType::Ack, None)
    }
}

/// History after `(t, mid)` (from the start without an anchor), oldest first.
pub fn logs_after(peer: Option<&str>, cid: &str, anchor: Option<&(String, i64)>, limit: i32, i: i32) -> GenericCommand {
    GenericCommand {
        peer_id: peer.map(Into::into),
        i: Some(i),
        logs_message: Some(LogsCommand {
            cid: Some(cid.into()),
            mid: anchor.map(|a| a.0.clone()),
            t: anchor.map(|a| a.1),
            direction: Some(QueryDirection::New as i32),
            l: Some(limit),
            ..Default::default()
        }),
        ..frame::command(CommandType::Logs, None)
    }
}

/// The error code of an `error` reply or a failed `ack`.
pub fn error_code(cmd: &GenericCommand) -> Option<i32> {
    if let Some(err) = &cmd.error_message {
        return Some(err.code);
    }
    cmd.ack_message.as_ref().and_then(|a| a.code)
}
