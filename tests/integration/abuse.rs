//! Hardening against hostile or careless clients (issue 9, points 3, 5, 7, 10 and 12):
//! receipts for made-up conversations, unbounded fields, tokens after logout, anonymous and
//! bulk logins and creations, kept notifications, replayed signatures.

use std::sync::Arc;

use md5::{Digest, Md5};
use xinshi::clock::ManualClock;
use xinshi::protocol::*;
use xinshi::signature::sign;

use crate::child::ChildServer;
use crate::client::*;

/// Resident memory of this test process (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 24 hex digits, like a conversation id, different for each `n`.
fn made_up_cid(n: usize) -> String {
    format!("{:024x}", 0xdead_0000_0000_0000u64 as usize + n)
}

fn read_many(cids: impl IntoIterator<Item = String>, i: bool) -> GenericCommand {
    let convs = cids.into_iter().map(|cid| ReadTuple { cid, ..Default::default() }).collect();
    let cmd = GenericCommand {
        read_message: Some(ReadCommand { convs, ..Default::default() }),
        ..xinshi::protocol::frame::command(CommandType::Read, None)
    };
    if i { cmd } else { GenericCommand { i: None, ..cmd } }
}

fn ack_of(cid: String) -> GenericCommand {
    GenericCommand {
        ack_message: Some(AckCommand { cid: Some(cid), tots: Some(1), ..Default::default() }),
        ..xinshi::protocol::frame::command(CommandType::Ack, None)
    }
}

#[tokio::test]
async fn hardening_3_receipts_for_unknown_conversations_cost_nothing_lasting() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.max_frame_bytes = 1 << 20;
    });
    let (mut bob, mut carol) = (Client::login(&server, "bob").await, Client::login(&server, "carol").await);
    let real = started_cid(&bob.request(start_conv(&["carol"], false, "{}")).await);
    acked(&bob.request(direct(&real, "ours", None)).await);
    carol.next_push_of(CommandType::Direct).await;
    eventually("one conversation actor", || server.node().convs.running() == 1).await;

    let before = rss_kib();
    let mut mallory = Client::login(&server, "mallory").await;
    for frame in 0..10 {
        let cids = (0..1_000).map(|n| made_up_cid(frame * 1_000 + n)).chain([real.clone()]);
        mallory.send(&read_many(cids, false)).await;
    }
    for n in 0..500 {
        mallory.send(&ack_of(made_up_cid(50_000 + n))).await;
    }
    assert_eq!(error_code(&mallory.request(direct(&made_up_cid(1), "hi", None)).await), 4401);
    // Everything handled: the actors of made-up ids (and of a conversation mallory is not in)
    // have gone again; only the real, active one is left.
    eventually("made-up conversations leave no actor", || server.node().convs.running() == 1).await;
    println!("RSS after 10 500 receipts for made-up conversations: {:+} KiB", rss_kib() as i64 - before as i64);
    // The members' conversation is unharmed.
    acked(&carol.request(direct(&real, "still here", None)).await);
    server.stop().await;
}

/// The report's attack, on the binary in a child process so its memory can be read: tens of
/// thousands of made-up ids in a few `read` frames used to start an actor each and keep
/// them for `conversation_idle_secs` (96 000 ids: +1.1 GB for 300 s).
#[tokio::test]
async fn hardening_3_made_up_receipts_leave_the_servers_memory_as_it_was() {
    const FRAMES: usize = 40;
    const PER_FRAME: usize = 1_200;
    let server = ChildServer::start(&[("XINSHI_LIMITS_RECEIPTS_PER_MINUTE", "0")]);
    let mut mallory = Client::connect_with(&server.ws_url(), Some("lc.protobuf2.3")).await.unwrap();
    assert_eq!(mallory.request(open("mallory")).await.op, Some(OpType::Opened as i32));
    mallory.next_push_of(CommandType::Unread).await;
    let before = server.rss_kib();
    for frame in 0..FRAMES {
        mallory.send(&read_many((0..PER_FRAME).map(|n| made_up_cid(frame * PER_FRAME + n)), false)).await;
    }
    // A request after them all is answered once the session has handed them all on.
    let echo = mallory.request(xinshi::protocol::frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = server.rss_kib();
    println!("{} made-up ids in {FRAMES} frames: server RSS {before} KiB -> {after} KiB", FRAMES * PER_FRAME);
    assert!(after < before + 64 * 1024, "receipts for made-up conversations kept memory: {before} -> {after} KiB");
}

#[tokio::test]
async fn hardening_3_receipts_have_their_own_rate_bucket() {
    let server = TestServer::start_with(|c| c.limits.receipts_per_minute = 100);
    let mut alice = Client::login(&server, "alice").await;
    let reply = alice.request(read_many((0..101).map(made_up_cid), true)).await;
    assert_eq!(error_code(&reply), 4116, "one token per conversation named");
    let reply = alice.request(read_many((0..100).map(made_up_cid), true)).await;
    assert_eq!(reply.cmd, Some(CommandType::Read as i32), "{reply:?}");
    let reply = alice.request(read_many([made_up_cid(7)], true)).await;
    assert_eq!(error_code(&reply), 4116, "the bucket is empty now");
    server.stop().await;
}

#[tokio::test]
async fn hardening_3_running_conversation_actors_are_bounded() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.max_conversation_actors = 10;
    });
    let mut alice = Client::login(&server, "alice").await;
    let mut cids = Vec::new();
    for n in 0..40 {
        let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
        acked(&alice.request(direct(&cid, &format!("m{n}"), None)).await);
        cids.push(cid);
        assert!(server.node().convs.running() <= 12, "{} running", server.node().convs.running());
    }
    // The least recently used went first, and come back from the store when used again.
    let reply = alice.request(direct(&cids[0], "again", None)).await;
    acked(&reply);
    let history = alice.request(logs(&cids[0], |_| {})).await;
    assert_eq!(log_texts(&history), ["m0", "again"]);
    server.stop().await;
}

#[tokio::test]
async fn hardening_5_every_client_supplied_field_is_bounded() {
    let server = TestServer::start_with(no_rate_limits);
    let mut client = Client::connect(&server).await;
    let mut long_device = open("alice");
    long_device.session_message.as_mut().unwrap().device_id = Some("d".repeat(60_000));
    assert_eq!(error_code(&client.request(long_device).await), 4103);
    let mut long_tag = open("alice");
    long_tag.session_message.as_mut().unwrap().tag = Some("t".repeat(65));
    assert_eq!(error_code(&client.request(long_tag).await), 4103);
    let huge_token = resume("alice", &"s".repeat(2_000));
    assert_eq!(error_code(&client.request(huge_token).await), 4112, "a session token has a bounded length");

    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    bob.next_push_of(CommandType::Conv).await;
    let long_dt = direct(&cid, "x", Some(&"k".repeat(65)));
    assert_eq!(error_code(&alice.request(long_dt).await), 4109);
    let mut big_dt = direct(&cid, "x", Some(&"k".repeat(65_000)));
    big_dt.direct_message.as_mut().unwrap().cid = Some(cid.clone());
    assert_eq!(error_code(&alice.request(big_dt).await), 4109);
    let mut mentions = direct(&cid, "x", None);
    mentions.direct_message.as_mut().unwrap().mention_pids = (0..501).map(|n| format!("{n}")).collect();
    assert_eq!(error_code(&alice.request(mentions).await), 4109, "more mentions than members");
    let mut long_mention = direct(&cid, "x", None);
    long_mention.direct_message.as_mut().unwrap().mention_pids = vec!["m".repeat(65)];
    assert_eq!(error_code(&alice.request(long_mention).await), 4109);
    let mut push_data = direct(&cid, "x", None);
    push_data.direct_message.as_mut().unwrap().push_data = Some("p".repeat(5_100));
    assert_eq!(error_code(&alice.request(push_data).await), 4109, "the whole command counts");
    let mut long_cid = direct(&"c".repeat(65), "x", None);
    long_cid.direct_message.as_mut().unwrap().mention_pids = vec!["bob".into()];
    assert_eq!(error_code(&alice.request(long_cid).await), 4401);

    // Within the bounds all is well, and nothing refused was delivered.
    let mut fine = direct(&cid, "x", Some(&"k".repeat(64)));
    fine.direct_message.as_mut().unwrap().mention_pids = vec!["bob".into()];
    acked(&alice.request(fine).await);
    let got = bob.next_push_of(CommandType::Direct).await.direct_message.unwrap();
    assert_eq!((got.msg.as_deref(), got.mention_pids.as_slice()), (Some("x"), ["bob".to_string()].as_slice()));
    bob.expect_silence(200).await;
    server.stop().await;
}

fn resume(client: &str, st: &str) -> GenericCommand {
    let mut cmd = open(client);
    let session = cmd.session_message.as_mut().unwrap();
    (session.r, session.st) = (Some(true), Some(st.to_owned()));
    cmd
}

#[tokio::test]
async fn hardening_7_logout_ends_the_token_and_what_is_remembered_is_bounded() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.max_session_tokens = 50;
    });
    let mut alice = Client::connect(&server).await;
    let st = alice.request(open("alice")).await.session_message.unwrap().st.unwrap();
    let mut close = xinshi::protocol::frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("alice".into());
    assert_eq!(alice.request(close).await.op, Some(OpType::Closed as i32));
    let mut again = Client::connect(&server).await;
    assert_eq!(error_code(&again.request(resume("alice", &st)).await), 4112, "logged out");

    // 200 logins that log out: memory keeps the newest 50 logouts, the store all of them.
    let before = rss_kib();
    let mut first = None;
    for n in 0..200 {
        let mut socket = Client::connect(&server).await;
        let client = format!("user{n}");
        let st = socket.request(open(&client)).await.session_message.unwrap().st.unwrap();
        let mut close = xinshi::protocol::frame::command(CommandType::Session, Some(OpType::Close));
        close.peer_id = Some(client.clone());
        assert_eq!(socket.request(close).await.op, Some(OpType::Closed as i32));
        if n == 0 {
            first = Some((client.clone(), st));
        }
        socket.close().await;
    }
    let mut socket = Client::connect(&server).await;
    let kept = socket.request(open("stays")).await.session_message.unwrap().st.unwrap();
    socket.close().await;
    assert!(server.node().tokens.revoked_len() <= 50, "{} logouts in memory", server.node().tokens.revoked_len());
    println!("RSS after 200 logins and logouts: {:+} KiB", rss_kib() as i64 - before as i64);
    // Its logout went to the store long ago (the pipeline commits in order).
    let (client, st) = first.unwrap();
    assert_eq!(error_code(&again.request(resume(&client, &st)).await), 4112, "ended, found in the store");
    let mut again = Client::connect(&server).await;
    assert_eq!(again.request(resume("stays", &kept)).await.op, Some(OpType::Opened as i32), "not logged out");
    server.stop().await;
}

#[tokio::test]
async fn hardening_10_anonymous_login_can_be_switched_off() {
    let server = TestServer::start_with(|c| c.security.anonymous_login = false);
    let mut client = Client::connect(&server).await;
    let mut anonymous = open("x");
    anonymous.peer_id = None;
    assert_eq!(error_code(&client.request(anonymous).await), 4103);
    assert_eq!(client.request(open("alice")).await.op, Some(OpType::Opened as i32), "named logins still work");
    server.stop().await;

    let server = TestServer::start();
    let mut client = Client::connect(&server).await;
    let mut anonymous = open("x");
    anonymous.peer_id = None;
    let opened = client.request(anonymous).await;
    assert_eq!(opened.op, Some(OpType::Opened as i32), "on by default, as on LeanCloud");
    server.stop().await;
}

#[tokio::test]
async fn hardening_10_logins_and_creations_per_socket_and_per_ip() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.max_clients_per_socket = 3;
        c.limits.socket_logins_per_minute = 6;
        c.limits.socket_creates_per_minute = 4;
        c.limits.ip_creates_per_minute = 6;
    });
    let mut socket = Client::connect(&server).await;
    for n in 0..3 {
        assert_eq!(socket.request(open(&format!("anon{n}"))).await.op, Some(OpType::Opened as i32));
    }
    assert_eq!(error_code(&socket.request(open("anon3")).await), 4103, "three clients on one socket at most");
    let mut close = xinshi::protocol::frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("anon0".into());
    socket.request(close).await;
    assert_eq!(socket.request(open("anon4")).await.op, Some(OpType::Opened as i32), "a place came free");
    assert_eq!(error_code(&socket.request(open("anon5")).await), 4103);
    let mut close = xinshi::protocol::frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("anon1".into());
    socket.request(close).await;
    assert_eq!(
        error_code(&socket.request(open("anon6")).await),
        4116,
        "six logins a minute on one socket, refused ones too"
    );

    // Creations: four a minute on one socket, six from one address.
    let mut created = 0;
    for n in 0..5 {
        let mut start = start_conv(&["bob"], false, "{}");
        start.peer_id = Some(if n % 2 == 0 { "anon2" } else { "anon4" }.into());
        let reply = socket.request(start).await;
        if reply.error_message.is_none() {
            created += 1;
        } else {
            assert_eq!(error_code(&reply), 4116);
        }
    }
    assert_eq!(created, 4, "shared by the socket's clients");
    let mut other = Client::login(&server, "carol").await;
    for _ in 0..2 {
        started_cid(&other.request(start_conv(&["bob"], false, "{}")).await);
    }
    assert_eq!(error_code(&other.request(start_conv(&["bob"], false, "{}")).await), 4116, "six from one address");
    server.stop().await;
}

#[tokio::test]
async fn hardening_10_kept_notifications_expire() {
    const START: i64 = 1_790_000_000_000;
    let clock = Arc::new(ManualClock::new(START));
    let server = TestServer::start_with_clock(
        |c| {
            c.limits.notification_ttl_secs = 10;
            c.limits.session_token_ttl_secs = 3600;
        },
        clock.clone(),
    );
    let mut alice = Client::login(&server, "alice").await;
    alice.request(start_conv(&["bob"], false, "{}")).await;
    let mut bob = Client::connect(&server).await;
    let st = bob.request(open("bob")).await.session_message.unwrap().st.unwrap();
    let auth = [("X-LC-Id", APP_ID), ("X-LC-Key", server.config.app.key.as_str()), ("X-LC-IM-Session-Token", &st)];
    let path = "/1.1/rtm/notifications?client_id=bob&start_ts=0&notification_type=permanent";
    let node = server.node().clone();
    eventually("the event is kept", || node.store.notifications("bob", 0, 10).unwrap().0.len() == 1).await;
    let (status, body) = http(&server, "GET", path, &auth, None).await;
    assert_eq!((status, body["notifications"].as_array().map(Vec::len)), (200, Some(1)), "{body}");

    clock.advance(11_000);
    let (_, body) = http(&server, "GET", path, &auth, None).await;
    assert_eq!(body["notifications"], serde_json::json!([]), "expired: {body}");
    // And the background sweep deletes it from the store.
    eventually("the sweep deletes it", || node.store.notifications("bob", 0, 10).unwrap().0.is_empty()).await;
    server.stop().await;
}

#[tokio::test]
async fn hardening_12_rest_signatures_are_good_for_a_window_only() {
    const NOW: i64 = 1_790_000_000_000;
    let server = TestServer::start_with_clock(|_| {}, Arc::new(ManualClock::new(NOW)));
    let master = server.config.app.master_key.clone();
    let signed = |ts: i64| {
        let sign: String = Md5::digest(format!("{ts}{master}")).iter().map(|b| format!("{b:02x}")).collect();
        format!("{sign},{ts},master")
    };
    for (ts, status) in
        [(946_684_800_000, 401), (NOW - 16 * 60_000, 401), (NOW + 16 * 60_000, 401), (NOW - 60_000, 200)]
    {
        let headers = [("X-LC-Id", APP_ID), ("X-LC-Sign", &signed(ts))];
        let (got, body) = http(&server, "POST", "/1.2/rtm/clients/alice/kick", &headers, None).await;
        assert_eq!(got, status, "timestamp {ts}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hardening_12_a_login_signature_opens_one_session() {
    const NOW: i64 = 1_790_000_000_000;
    let server = TestServer::start_with_clock(|c| c.security.login_signature = true, Arc::new(ManualClock::new(NOW)));
    let signed = |nonce: &str| {
        let mut cmd = open("alice");
        let session = cmd.session_message.as_mut().unwrap();
        let message = format!("{APP_ID}:alice::{NOW}:{nonce}");
        (session.s, session.t, session.n) =
            (Some(sign(&server.config.app.master_key, &message)), Some(NOW), Some(nonce.into()));
        cmd
    };
    let mut first = Client::connect(&server).await;
    assert_eq!(first.request(signed("n-1")).await.op, Some(OpType::Opened as i32));
    let mut replay = Client::connect(&server).await;
    let reply = replay.request(signed("n-1")).await;
    assert_eq!(error_code(&reply), 4102, "the same signature again");
    assert_eq!(replay.request(signed("n-2")).await.op, Some(OpType::Opened as i32), "a fresh one");
    server.stop().await;
}
