//! Limits and isolation: per-client rate limits (with an injected clock), session token
//! expiry and refresh, the origin whitelist, the connection cap and the slow reader.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::client::*;
use xinshi::clock::ManualClock;
use xinshi::protocol::frame;
use xinshi::protocol::*;

const NOW: i64 = 1_795_000_000_000;

fn server_at(adjust: impl FnOnce(&mut xinshi::config::Config)) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    (TestServer::start_with_clock(adjust, clock.clone()), clock)
}

fn quota_exceeded(reply: &GenericCommand) -> bool {
    reply.cmd == Some(CommandType::Error as i32)
        && reply.error_message.as_ref().is_some_and(|e| e.code == 4116 && e.reason == "MESSAGE_SENT_QUOTA_EXCEEDED")
}

#[tokio::test]
async fn sends_are_limited_per_client_and_refill_with_time() {
    let (server, clock) = server_at(|c| c.limits.send_per_minute = 3);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    for n in 0..3 {
        acked(&alice.request(direct(&cid, &format!("m{n}"), None)).await);
    }
    let reply = alice.request(direct(&cid, "one too many", None)).await;
    assert!(quota_exceeded(&reply), "{reply:?}");
    // Another device of alice shares her allowance; bob has his own.
    let mut alice_pad = Client::login(&server, "alice").await;
    assert!(quota_exceeded(&alice_pad.request(direct(&cid, "from the pad", None)).await));
    acked(&bob.request(direct(&cid, "bob is fine", None)).await);
    // Receipts are not counted.
    for _ in 0..10 {
        let reply = alice.request(read(&cid)).await;
        assert_eq!(reply.cmd, Some(CommandType::Read as i32));
    }
    clock.advance(19_000);
    assert!(quota_exceeded(&alice.request(direct(&cid, "still too soon", None)).await));
    clock.advance(1_000);
    acked(&alice.request(direct(&cid, "a minute's third later", None)).await);
    // What was refused was not stored.
    let texts = log_texts(&bob.request(logs(&cid, |_| {})).await);
    assert_eq!(texts.len(), 5, "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("too")), "{texts:?}");
    server.stop().await;
}

#[tokio::test]
async fn queries_and_other_operations_have_their_own_limits() {
    let (server, clock) = server_at(|c| {
        c.limits.history_per_minute = 3;
        c.limits.ops_per_minute = 3;
    });
    let mut alice = Client::login(&server, "alice").await; // op 1: the login
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await); // op 2
    // History and conversation queries share a bucket.
    for _ in 0..2 {
        assert_eq!(alice.request(logs(&cid, |_| {})).await.cmd, Some(CommandType::Logs as i32));
    }
    assert_eq!(alice.request(query_convs("{}", |_| {})).await.op, Some(OpType::Results as i32));
    assert!(quota_exceeded(&alice.request(logs(&cid, |_| {})).await));
    assert!(quota_exceeded(&alice.request(query_convs("{}", |_| {})).await));
    // Operations have their own.
    let start = alice.request(start_conv(&["carol"], false, "{}")).await; // op 3
    assert_eq!(start.op, Some(OpType::Started as i32));
    assert!(quota_exceeded(&alice.request(start_conv(&["dave"], false, "{}")).await));
    // A login is an operation too.
    let mut again = Client::connect(&server).await;
    assert!(quota_exceeded(&again.request(open("alice")).await));
    // echo is never limited.
    for _ in 0..5 {
        assert_eq!(alice.request(frame::command(CommandType::Echo, None)).await.cmd, Some(CommandType::Echo as i32));
    }
    clock.advance(20_000);
    assert_eq!(alice.request(query_convs("{}", |_| {})).await.op, Some(OpType::Results as i32));
    assert_eq!(alice.request(start_conv(&["dave"], false, "{}")).await.op, Some(OpType::Started as i32));
    server.stop().await;
}

#[tokio::test]
async fn rest_calls_are_not_limited() {
    let (server, _clock) = server_at(|c| c.limits.ops_per_minute = 1);
    let mut alice = Client::connect(&server).await;
    let st = alice.request(open("alice")).await.session_message.unwrap().st.unwrap();
    let auth = [("X-LC-Id", APP_ID), ("X-LC-Key", server.config.app.key.as_str()), ("X-LC-IM-Session-Token", &st)];
    for _ in 0..5 {
        let (status, _) = http(&server, "GET", "/1.1/rtm/notifications?client_id=alice", &auth, None).await;
        assert_eq!(status, 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn session_tokens_expire_and_refresh() {
    let (server, clock) = server_at(|c| c.limits.session_token_ttl_secs = 600);
    let mut alice = Client::connect(&server).await;
    let opened = alice.request(open("alice")).await;
    let session = opened.session_message.unwrap();
    assert_eq!(session.st_ttl, Some(600));
    let old = session.st.unwrap();
    alice.next_push_of(CommandType::Unread).await;
    let reopen = |st: &str| {
        let mut cmd = open("alice");
        let session = cmd.session_message.as_mut().unwrap();
        (session.r, session.st) = (Some(true), Some(st.into()));
        cmd
    };

    clock.advance(599_000);
    let refresh = GenericCommand {
        session_message: Some(SessionCommand { st: Some(old.clone()), ..Default::default() }),
        ..frame::command(CommandType::Session, Some(OpType::Refresh))
    };
    let refreshed = alice.request(refresh).await;
    assert_eq!(refreshed.op, Some(OpType::Refreshed as i32));
    let new = refreshed.session_message.unwrap().st.unwrap();

    clock.advance(1_000);
    let mut other = Client::connect(&server).await;
    assert_eq!(error_code(&other.request(reopen(&old)).await), 4112, "the first token has expired");
    let auth = [("X-LC-Id", APP_ID), ("X-LC-Key", server.config.app.key.as_str()), ("X-LC-IM-Session-Token", &old)];
    let (status, body) = http(&server, "GET", "/1.1/rtm/notifications?client_id=alice", &auth, None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(4112)));
    let reopened = other.request(reopen(&new)).await;
    assert_eq!(reopened.op, Some(OpType::Opened as i32), "the refreshed one works");
    let later = reopened.session_message.unwrap().st.unwrap();
    other.next_push_of(CommandType::Unread).await;
    // A logout of the session that refreshed ends the refreshed token.
    let mut close = frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("alice".into());
    assert_eq!(alice.request(close).await.op, Some(OpType::Closed as i32));
    let mut fourth = Client::connect(&server).await;
    assert_eq!(error_code(&fourth.request(reopen(&new)).await), 4112, "logged out");
    clock.advance(600_000);
    let mut third = Client::connect(&server).await;
    assert_eq!(error_code(&third.request(reopen(&later)).await), 4112, "expired");
    server.stop().await;
}

#[tokio::test]
async fn browsers_from_other_origins_get_4110() {
    let server = TestServer::start_with(|c| c.security.allowed_origins = vec!["https://app.example.com".into()]);
    let url = server.ws_url();
    let mut evil = Client::connect_with_headers(&url, Some("lc.protobuf2.3"), &[("Origin", "https://evil.example")])
        .await
        .unwrap();
    assert_eq!(evil.closed_code().await, Some(4110));
    let mut good = Client::connect_with_headers(&url, Some("lc.protobuf2.3"), &[("Origin", "https://app.example.com")])
        .await
        .unwrap();
    assert_eq!(good.request(open("alice")).await.op, Some(OpType::Opened as i32));
    let mut native = Client::connect(&server).await;
    assert_eq!(native.request(open("bob")).await.op, Some(OpType::Opened as i32), "no Origin: not a browser");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_with_503() {
    let server = TestServer::start_with(|c| c.limits.max_connections = 2);
    let first = Client::connect(&server).await;
    let _second = Client::connect(&server).await;
    match Client::connect_with(&server.ws_url(), Some("lc.protobuf2.3")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a third connection was not refused: {:?}", other.map(|_| ())),
    }
    first.close().await;
    eventually("the first connection's place is free", || server.node().connections.load(Ordering::Acquire) < 2).await;
    let mut third = Client::connect(&server).await;
    assert_eq!(third.request(open("carol")).await.op, Some(OpType::Opened as i32));
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_and_memory_stays_bounded() {
    const LIMIT: usize = 256 * 1024;
    const SENT: usize = 3000;
    const BATCH: usize = 16;
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.outbound_queue_bytes = LIMIT;
    });
    let mut sink = Client::connect_small_buffer(&server).await;
    assert_eq!(sink.request(open("sink")).await.op, Some(OpType::Opened as i32));
    let mut flooder = Client::login(&server, "flooder").await;
    let cid = started_cid(&flooder.request(start_conv(&["sink"], false, "{}")).await);
    // Batches small enough for the queue, waiting for their acks: the kernel's and the HTTP
    // layer's buffers fill first, then the socket task blocks in a write, and only then does
    // the queue fill up behind it.
    let text = "x".repeat(4000);
    let mut sent = 0;
    while server.node().presence.is_online("sink") {
        assert!(sent < SENT, "the sink was still connected after {sent} messages");
        let mut is = Vec::new();
        for _ in 0..BATCH {
            is.push(flooder.send_request(direct(&cid, &text, None)).await);
        }
        for i in is {
            while !flooder.inbox.iter().any(|c| c.i == Some(i)) {
                let got = flooder.recv().await.unwrap();
                flooder.inbox.push_back(got);
            }
        }
        assert!(flooder.inbox.drain(..).all(|c| c.cmd == Some(CommandType::Ack as i32)), "every message was stored");
        sent += BATCH;
    }
    eventually("the sink's socket is closed", || server.node().connections.load(Ordering::Acquire) == 1).await;
    // What the sink finds when it reads at last: part of the messages, then the end.
    let mut pushed = 0;
    let close = loop {
        match sink.recv().await {
            Ok(cmd) => pushed += usize::from(cmd.cmd == Some(CommandType::Direct as i32)),
            Err(closed) => break closed,
        }
    };
    assert!(pushed < sent, "{pushed} of {sent} arrived");
    if let Closed::Frame(Some(frame)) = close {
        assert_eq!(u16::from(frame.code), 1008);
    }
    server.stop().await;
}
