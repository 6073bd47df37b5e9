//! Hardening of the socket edge (issue 9, points 2, 6 and 8): frame sizes checked at the
//! header, large replies to a client that reads, and stalled readers in bulk.
//!
//! Where the point is memory, the server is the `xinshi` binary in a child process, so its
//! RSS is not mixed with the other tests running in this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use crate::child::ChildServer;
use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

/// The binary with one HTTP worker and one core thread, as these measurements were made.
fn child_server(env: &[(&str, &str)]) -> ChildServer {
    let mut env = env.to_vec();
    env.extend([("XINSHI_SERVER_WORKERS", "1"), ("XINSHI_SERVER_CORE_THREADS", "1")]);
    ChildServer::start(&env)
}

/// A WebSocket opened by hand on a raw TCP connection (`lc.protobuf2.3`).
async fn upgrade(addr: &str) -> TcpStream {
    upgrade_on(TcpStream::connect(addr).await.unwrap(), addr).await
}

/// [`upgrade`] on a connection with a 4 KiB receive buffer (for a client that stops
/// reading).
async fn upgrade_small_buffer(addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    upgrade_on(socket.connect(addr.parse().unwrap()).await.unwrap(), addr).await
}

async fn upgrade_on(mut stream: TcpStream, addr: &str) -> TcpStream {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: lc.protobuf2.3\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// A client frame header (masked with a zero key, so the payload goes as is).
fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => h.push(0x80 | len as u8),
        126..=0xFFFF => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    h.extend_from_slice(&[0; 4]);
    h
}

fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header(fin, opcode, payload.len() as u64);
    f.extend_from_slice(payload);
    f
}

/// The next frame from the server: its opcode and payload.
async fn read_frame(stream: &mut OwnedReadHalf) -> std::io::Result<(u8, Vec<u8>)> {
    read_frame_from(stream).await
}

async fn read_frame_from(stream: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    stream.read_exact(&mut h).await?;
    let len = match h[1] & 0x7F {
        126 => u64::from(stream.read_u16().await?),
        127 => stream.read_u64().await?,
        len => u64::from(len),
    };
    let mut payload = vec![0; len as usize];
    stream.read_exact(&mut payload).await?;
    Ok((h[0] & 0x0F, payload))
}

/// Reads until the server's close frame; its code (`None`: the connection ended without
/// one). Gives up after `within`.
async fn close_code(stream: &mut OwnedReadHalf, within: Duration) -> Option<u16> {
    let wait = async {
        loop {
            match read_frame(stream).await {
                Ok((0x8, payload)) if payload.len() >= 2 => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                Ok((0x8, _)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, wait).await.unwrap_or(None)
}

/// Reads until the connection ends: `Some(close code)` (`Some(None)` without a close
/// frame), or `None` if it is still open after `within`.
async fn ended(stream: &mut TcpStream, within: Duration) -> Option<Option<u16>> {
    let (mut rx, _tx) = stream.split();
    let wait = async {
        loop {
            let mut h = [0u8; 2];
            if rx.read_exact(&mut h).await.is_err() {
                return None;
            }
            let len = match h[1] & 0x7F {
                126 => rx.read_u16().await.map(u64::from),
                127 => rx.read_u64().await,
                len => Ok(u64::from(len)),
            };
            let Ok(len) = len else { return None };
            let mut payload = vec![0; len as usize];
            if rx.read_exact(&mut payload).await.is_err() {
                return None;
            }
            if h[0] & 0x0F == 0x8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(within, wait).await.ok()
}

fn echo(i: i32) -> Vec<u8> {
    GenericCommand { i: Some(i), ..frame::command(CommandType::Echo, None) }.encode_to_vec()
}

/// Point 2: a header declaring 2^40 bytes closes the socket with 4109 as soon as it
/// arrives, before any login, and the payload streamed after it is not kept.
#[tokio::test]
async fn hardening_frame_header_declaring_2_40_bytes_closes_at_once_and_keeps_nothing() {
    const STREAMED: usize = 64 << 20;
    let server = child_server(&[]);
    let (mut rx, mut tx) = upgrade(&server.addr).await.into_split();
    // The socket is up (no login): an echo comes back.
    tx.write_all(&client_frame(true, 0x2, &echo(1))).await.unwrap();
    let (opcode, reply) = read_frame(&mut rx).await.unwrap();
    assert_eq!((opcode, GenericCommand::decode(&reply[..]).unwrap().i), (0x2, Some(1)));
    let before = server.rss_kib();

    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            tx.write_all(&header(true, 0x2, 1 << 40)).await.unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            while written.load(Ordering::Relaxed) < STREAMED {
                // The server may drop the connection once it has closed the socket.
                if tx.write_all(&chunk).await.is_err() {
                    break;
                }
                written.fetch_add(chunk.len(), Ordering::Relaxed);
            }
            // Kept open: a server that buffers the frame holds it until the connection ends.
            tx
        }
    });
    let started = Instant::now();
    let code = close_code(&mut rx, Duration::from_secs(10)).await;
    let (took, sent_by_then) = (started.elapsed(), written.load(Ordering::Relaxed));
    let tx = tokio::time::timeout(Duration::from_secs(60), writer).await.expect("the payload is written").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.rss_kib();
    drop(tx);
    println!(
        "close {code:?} after {took:?} with {} KiB of payload sent; {} KiB streamed in all; \
         server RSS {before} KiB -> {after} KiB",
        sent_by_then >> 10,
        written.load(Ordering::Relaxed) >> 10
    );
    assert_eq!(code, Some(4109), "closed with FRAME_TOO_LONG");
    assert!(sent_by_then < STREAMED, "closed before the payload was all sent");
    assert!(after < before + 8 * 1024, "the server kept the payload: RSS {before} KiB -> {after} KiB");
}

/// Point 2: fragments adding up to more than `max_frame_bytes` close with 4109 (not 1002),
/// while a fragmented command within it is answered.
#[tokio::test]
async fn hardening_frame_fragments_over_the_cap_close_with_4109() {
    let server = TestServer::start_with(|c| c.limits.max_frame_bytes = 16 * 1024);
    let addr = server.ws_url().trim_start_matches("ws://").trim_end_matches('/').to_owned();

    // Within the cap: an echo in three fragments.
    let (mut rx, mut tx) = upgrade(&addr).await.into_split();
    let bytes = echo(5);
    let mut fragments = client_frame(false, 0x2, &bytes[..1]);
    fragments.extend(client_frame(false, 0x0, &bytes[1..2]));
    fragments.extend(client_frame(true, 0x0, &bytes[2..]));
    tx.write_all(&fragments).await.unwrap();
    let (_, reply) = read_frame(&mut rx).await.unwrap();
    assert_eq!(GenericCommand::decode(&reply[..]).unwrap().i, Some(5));

    // Over it: 10 KiB and 10 KiB of one message.
    tx.write_all(&client_frame(false, 0x2, &[0; 10 * 1024])).await.unwrap();
    tx.write_all(&client_frame(true, 0x0, &[0; 10 * 1024])).await.unwrap();
    assert_eq!(close_code(&mut rx, WAIT).await, Some(4109));
    server.stop().await;
}

/// Sends `text` to `cids` in turn, in batches of 16, each waiting for its acks, until
/// `stop()` holds; returns how many were sent. Fails past `most`.
async fn flood(flooder: &mut Client, cids: &[&str], text: &str, most: usize, stop: impl FnMut() -> bool) -> usize {
    let sends: Vec<_> = cids.iter().map(|cid| direct(cid, text, None)).collect();
    flood_with(flooder, &sends, most, stop).await
}

/// [`flood`] with these commands.
async fn flood_with(
    flooder: &mut Client,
    sends: &[GenericCommand],
    most: usize,
    mut stop: impl FnMut() -> bool,
) -> usize {
    let mut sent = 0;
    while !stop() {
        assert!(sent < most, "still going after {sent} messages");
        let mut is = Vec::new();
        for n in 0..16 {
            is.push(flooder.send_request(sends[n % sends.len()].clone()).await);
        }
        for i in is {
            while !flooder.inbox.iter().any(|c| c.i == Some(i)) {
                let got = flooder.recv().await.unwrap();
                flooder.inbox.push_back(got);
            }
        }
        flooder.inbox.retain(|c| c.i.is_none());
        sent += 16;
    }
    sent
}

/// Point 6: a reply bigger than `outbound_queue_bytes` reaches a client that reads; one
/// bigger than `max_reply_bytes` is answered with 4311 and the socket stays open.
#[tokio::test]
async fn hardening_large_reply_reaches_a_client_that_reads() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.outbound_queue_bytes = 16 * 1024;
        c.limits.max_reply_bytes = 64 * 1024;
    });
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let text = "x".repeat(4000);
    let mut sent = 0;
    flood(&mut alice, &[&cid], &text, 64, || {
        sent += 1;
        sent > 2
    })
    .await;

    // 10 messages: about 40 KB, more than the queue's 16 KiB.
    let reply = alice.request(logs(&cid, |l| l.limit = Some(10))).await;
    assert_eq!(reply.cmd, Some(CommandType::Logs as i32), "{reply:?}");
    assert_eq!(log_texts(&reply).len(), 10);
    assert!(reply.encoded_len() > 16 * 1024);

    // 32 messages: about 130 KB, more than a reply may be.
    let reply = alice.request(logs(&cid, |l| l.limit = Some(32))).await;
    assert_eq!(error_code(&reply), 4311, "{reply:?}");
    assert!(reply.error_message.unwrap().detail.unwrap().contains("max_reply_bytes"));

    let echo = alice.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32), "the socket is still open");
    server.stop().await;
}

/// Point 8: a socket whose queue holds bytes and does not move for `outbound_stall_secs`
/// is closed, though it is far under its own byte limit.
#[tokio::test]
async fn hardening_stalled_reader_is_closed_after_the_stall_time() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.outbound_queue_bytes = 64 << 20;
        c.limits.outbound_stall_secs = 1;
    });
    let mut sink = Client::connect_small_buffer(&server).await;
    assert_eq!(sink.request(open("sink")).await.op, Some(OpType::Opened as i32));
    let mut flooder = Client::login(&server, "flooder").await;
    let cid = started_cid(&flooder.request(start_conv(&["sink"], false, "{}")).await);
    // Until the kernel's and HTTP buffers are full and the queue holds something.
    let sent =
        flood(&mut flooder, &[&cid], &"x".repeat(4000), 20_000, || server.node().outbound.queued() > 100_000).await;
    let stalled = Instant::now();
    eventually("the stalled sink is closed", || !server.node().presence.is_online("sink")).await;
    let took = stalled.elapsed();
    println!("the sink's queue filled after {sent} messages; closed {took:?} later");
    assert!(took < Duration::from_secs(5), "closed {took:?} after its queue stalled");
    assert!(server.node().presence.is_online("flooder"));
    server.stop().await;
}

/// Point 8: sockets that never read, fed by a conversation, are closed the fullest first
/// once the node's queues together pass `outbound_total_bytes`; one that reads stays.
#[tokio::test]
async fn hardening_stalled_readers_in_bulk_close_the_fullest_first() {
    const TOTAL: usize = 2 << 20;
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.outbound_queue_bytes = 64 << 20;
        c.limits.outbound_stall_secs = 0;
        c.limits.outbound_total_bytes = TOTAL;
    });
    let sinks = ["sink0", "sink1", "sink2", "double"];
    let mut sockets = Vec::new();
    for sink in sinks {
        let mut socket = Client::connect_small_buffer(&server).await;
        assert_eq!(socket.request(open(sink)).await.op, Some(OpType::Opened as i32));
        sockets.push(socket);
    }
    let mut reader = Client::login(&server, "reader").await;
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    let mut flooder = Client::login(&server, "flooder").await;
    let all =
        started_cid(&flooder.request(start_conv(&["sink0", "sink1", "sink2", "double", "reader"], false, "{}")).await);
    let more = started_cid(&flooder.request(start_conv(&["double"], false, "{}")).await);

    let node = server.node().clone();
    let mut order = Vec::new();
    let mut most_queued = 0;
    let sent = flood(&mut flooder, &[&all, &more], &"x".repeat(4000), 20_000, || {
        most_queued = most_queued.max(node.outbound.queued());
        for sink in sinks {
            if !order.contains(&sink) && !node.presence.is_online(sink) {
                order.push(sink);
            }
        }
        order.len() == sinks.len()
    })
    .await;
    let left = node.outbound.queued();
    println!("closed in order {order:?} after {sent} messages; at most {most_queued} bytes queued, {left} at the end");
    assert_eq!(order[0], "double", "the socket fed twice as much goes first");
    assert!(node.presence.is_online("reader"), "the client that reads stays");
    assert!(left <= TOTAL);
    assert!(most_queued < 2 * TOTAL, "the node's queues held {most_queued} bytes (bound {TOTAL})");
    assert!(!reading.is_finished());
    reading.abort();
    server.stop().await;
}

/// Point 8, memory: sockets that never read, each fed by its own conversation, are closed
/// once the node's queues pass `outbound_total_bytes`, and the server's memory stays near
/// that bound although each socket's own limit is far above what it is fed.
#[tokio::test]
async fn hardening_stalled_readers_in_bulk_keep_server_memory_bounded() {
    const SINKS: usize = 6;
    const FED: usize = 8 << 20;
    const TEXT: usize = 16 * 1024;
    let server = child_server(&[
        ("XINSHI_LIMITS_SEND_PER_MINUTE", "0"),
        ("XINSHI_LIMITS_OPS_PER_MINUTE", "0"),
        ("XINSHI_LIMITS_MAX_MESSAGE_BYTES", "20000"),
        ("XINSHI_LIMITS_OUTBOUND_QUEUE_BYTES", "67108864"),
        ("XINSHI_LIMITS_OUTBOUND_TOTAL_BYTES", "4194304"),
        ("XINSHI_LIMITS_OUTBOUND_STALL_SECS", "0"),
    ]);
    let url = format!("ws://{}/", server.addr);
    let mut sinks = Vec::new();
    for n in 0..SINKS {
        let mut sink = upgrade_small_buffer(&server.addr).await;
        let login = GenericCommand { i: Some(1), ..open(&format!("sink{n}")) };
        sink.write_all(&client_frame(true, 0x2, &login.encode_to_vec())).await.unwrap();
        let (mut rx, _tx) = sink.split();
        let (_, reply) = read_frame_from(&mut rx).await.unwrap();
        assert_eq!(GenericCommand::decode(&reply[..]).unwrap().op, Some(OpType::Opened as i32));
        sinks.push(sink);
    }
    let mut flooder = Client::connect_with(&url, Some("lc.protobuf2.3")).await.unwrap();
    assert_eq!(flooder.request(open("flooder")).await.op, Some(OpType::Opened as i32));
    let mut cids = Vec::new();
    for n in 0..SINKS {
        cids.push(started_cid(&flooder.request(start_conv(&[&format!("sink{n}")], false, "{}")).await));
    }
    // Transient: not stored, so the store's memory does not grow with them.
    let text = "x".repeat(TEXT);
    let sends: Vec<_> = cids
        .iter()
        .map(|cid| {
            let mut cmd = direct(cid, &text, None);
            cmd.direct_message.as_mut().unwrap().transient = Some(true);
            cmd
        })
        .collect();
    let before = server.rss_kib();
    let mut peak = before;
    let mut batches = 0;
    let sent = flood_with(&mut flooder, &sends, 100_000, || {
        peak = peak.max(server.rss_kib());
        batches += 1;
        (batches - 1) * 16 * TEXT >= SINKS * FED
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = server.rss_kib();
    let mut closes = Vec::new();
    for sink in &mut sinks {
        closes.push(ended(sink, Duration::from_secs(3)).await);
    }
    println!(
        "{sent} messages of {TEXT} bytes to {SINKS} sinks; server RSS {before} KiB, peak {peak} KiB, \
         {after} KiB after; sinks ended with {closes:?}"
    );
    // Once the others are closed, the last one may fit under the bound.
    let closed = closes.iter().filter(|c| matches!(c, Some(Some(1008) | None))).count();
    assert!(closed >= SINKS - 1, "the sinks were closed: {closes:?}");
    assert!(peak < before + 16 * 1024, "server RSS grew from {before} KiB to {peak} KiB");
}
