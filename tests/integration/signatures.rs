//! Operation signatures (spec/leancloud-im.md §7): each signed action with a valid, a forged,
//! an expired and a wrong-key signature, in milliseconds and in seconds. The message strings
//! are spelled out here as an app server would build them.

use std::sync::Arc;

use crate::client::*;
use xinshi::clock::ManualClock;
use xinshi::protocol::frame;
use xinshi::protocol::*;
use xinshi::signature::sign;

/// The server's time in these tests.
const NOW: i64 = 1_795_000_000_000;
const HOUR: i64 = 3_600_000;

/// How a test signs: which key, and when.
#[derive(Debug, Clone, Copy)]
enum Sig {
    /// Master key, timestamp in milliseconds.
    Valid,
    /// Master key, timestamp in seconds (LeanCloud's sample signer).
    ValidSeconds,
    /// 40 hex digits that are not the HMAC.
    Forged,
    /// Master key, but made 6 h 1 s ago.
    Expired,
    /// Signed with the app key instead of the master key.
    WrongKey,
    /// No signature at all.
    Missing,
}

const FAILING: [Sig; 4] = [Sig::Forged, Sig::Expired, Sig::WrongKey, Sig::Missing];

type SignedFields = (Option<String>, Option<i64>, Option<String>);

/// `(s, t, n)` for `message(t, n)` signed as `how` says, at [`NOW`].
fn signature(server: &TestServer, how: Sig, message: impl Fn(i64, &str) -> String) -> SignedFields {
    signature_at(server, how, NOW, message)
}

fn signature_at(server: &TestServer, how: Sig, now: i64, message: impl Fn(i64, &str) -> String) -> SignedFields {
    // A fresh nonce for every signature, as an app server makes them: a login signature
    // opens one session only.
    static NONCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(83721);
    let nonce = &NONCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string();
    let (t, key) = match how {
        Sig::Valid | Sig::Forged => (now, server.config.app.master_key.clone()),
        Sig::ValidSeconds => (now / 1000, server.config.app.master_key.clone()),
        Sig::Expired => (now - 6 * HOUR - 1000, server.config.app.master_key.clone()),
        Sig::WrongKey => (now, server.config.app.key.clone()),
        Sig::Missing => return (None, None, None),
    };
    let s = match how {
        Sig::Forged => "0123456789abcdef0123456789abcdef01234567".to_string(),
        _ => sign(&key, &message(t, nonce)),
    };
    (Some(s), Some(t), Some(nonce.to_string()))
}

fn signed_server(adjust: impl FnOnce(&mut xinshi::config::Config)) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    (TestServer::start_with_clock(adjust, clock.clone()), clock)
}

fn signed_open(server: &TestServer, client: &str, how: Sig) -> GenericCommand {
    signed_open_at(server, client, how, NOW)
}

fn signed_open_at(server: &TestServer, client: &str, how: Sig, now: i64) -> GenericCommand {
    let (s, t, n) = signature_at(server, how, now, |t, n| format!("{APP_ID}:{client}::{t}:{n}"));
    let mut cmd = open(client);
    let session = cmd.session_message.as_mut().unwrap();
    (session.s, session.t, session.n) = (s, t, n);
    cmd
}

#[tokio::test]
async fn login_needs_a_valid_signature_when_switched_on() {
    let (server, _clock) = signed_server(|c| c.security.login_signature = true);
    for how in [Sig::Valid, Sig::ValidSeconds] {
        let mut client = Client::connect(&server).await;
        let reply = client.request(signed_open(&server, "alice", how)).await;
        assert_eq!(reply.op, Some(OpType::Opened as i32), "{how:?}: {reply:?}");
    }
    for how in FAILING {
        let mut client = Client::connect(&server).await;
        let reply = client.request(signed_open(&server, "alice", how)).await;
        assert_eq!(error_code(&reply), 4102, "{how:?}");
        assert_eq!(reply.error_message.unwrap().reason, "SIGNATURE_FAILED");
    }
    // Signed for someone else.
    let mut client = Client::connect(&server).await;
    let mut cmd = signed_open(&server, "alice", Sig::Valid);
    cmd.peer_id = Some("mallory".into());
    assert_eq!(error_code(&client.request(cmd).await), 4102);
    server.stop().await;
}

#[tokio::test]
async fn a_signature_from_the_future_beyond_the_window_fails() {
    let (server, clock) = signed_server(|c| c.security.login_signature = true);
    let early = signed_open(&server, "alice", Sig::Valid);
    clock.advance(-(6 * HOUR + 1000));
    let mut client = Client::connect(&server).await;
    assert_eq!(error_code(&client.request(early.clone()).await), 4102);
    clock.advance(2000);
    assert_eq!(client.request(early).await.op, Some(OpType::Opened as i32), "inside the window");
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_its_token_needs_no_signature_and_refresh_needs_one() {
    let (server, clock) = signed_server(|c| c.security.login_signature = true);
    let mut first = Client::connect(&server).await;
    let st = first.request(signed_open(&server, "alice", Sig::Valid)).await.session_message.unwrap().st.unwrap();
    first.close().await;
    clock.advance(7 * HOUR);

    let mut again = Client::connect(&server).await;
    let mut reopen = open("alice");
    let session = reopen.session_message.as_mut().unwrap();
    (session.r, session.st) = (Some(true), Some(st.clone()));
    assert_eq!(again.request(reopen).await.op, Some(OpType::Opened as i32), "the token stands in for a signature");
    again.next_push_of(CommandType::Unread).await;

    // session/refresh carries a fresh login signature.
    let refresh = |how: Sig| {
        let (s, t, n) = signature(&server, how, |t, n| format!("{APP_ID}:alice::{t}:{n}"));
        GenericCommand {
            session_message: Some(SessionCommand { st: Some(st.clone()), s, t, n, ..Default::default() }),
            ..frame::command(CommandType::Session, Some(OpType::Refresh))
        }
    };
    clock.advance(-7 * HOUR);
    let reply = again.request(refresh(Sig::Valid)).await;
    assert_eq!(reply.op, Some(OpType::Refreshed as i32), "{reply:?}");
    assert_ne!(reply.session_message.unwrap().st.unwrap(), st);
    for how in FAILING {
        assert_eq!(error_code(&again.request(refresh(how)).await), 4102, "{how:?}");
    }
    server.stop().await;
}

fn signed_start(server: &TestServer, creator: &str, m: &[&str], signed_members: &[&str], how: Sig) -> GenericCommand {
    let mut sorted: Vec<&str> = signed_members.to_vec();
    sorted.sort();
    let joined = sorted.join(":");
    let (s, t, n) = signature(server, how, |t, n| format!("{APP_ID}:{creator}:{joined}:{t}:{n}"));
    let mut cmd = start_conv(m, false, "{}");
    let conv = cmd.conv_message.as_mut().unwrap();
    (conv.s, conv.t, conv.n) = (s, t, n);
    cmd
}

#[tokio::test]
async fn conv_start_needs_a_valid_signature_when_switched_on() {
    let (server, _clock) = signed_server(|c| c.security.conversation_signature = true);
    let mut alice = Client::login(&server, "alice").await;
    // As the JS SDK does: the creator in `m`, and signed.
    let reply = alice.request(signed_start(&server, "alice", &["alice", "bob"], &["alice", "bob"], Sig::Valid)).await;
    started_cid(&reply);
    // As the docs say: only the invited members.
    let reply =
        alice.request(signed_start(&server, "alice", &["bob", "carol"], &["bob", "carol"], Sig::ValidSeconds)).await;
    started_cid(&reply);
    for how in FAILING {
        let reply = alice.request(signed_start(&server, "alice", &["bob"], &["bob"], how)).await;
        assert_eq!(error_code(&reply), 4302, "{how:?}");
        assert_eq!(reply.error_message.unwrap().reason, "CONVERSATION_SIGNATURE_FAILED");
    }
    // Signed for other members than those asked for.
    let reply = alice.request(signed_start(&server, "alice", &["bob", "mallory"], &["bob"], Sig::Valid)).await;
    assert_eq!(error_code(&reply), 4302);
    server.stop().await;
}

#[tokio::test]
async fn with_the_switches_off_nothing_is_checked() {
    let (server, _clock) = signed_server(|_| {});
    let mut client = Client::connect(&server).await;
    assert_eq!(client.request(signed_open(&server, "alice", Sig::Forged)).await.op, Some(OpType::Opened as i32));
    client.next_push_of(CommandType::Unread).await;
    started_cid(&client.request(signed_start(&server, "alice", &["bob"], &["bob"], Sig::Forged)).await);
    server.stop().await;
}

#[tokio::test]
async fn a_kick_voids_earlier_signatures_even_after_a_restart() {
    let (mut server, clock) = signed_server(|c| c.security.login_signature = true);
    let before = signed_open(&server, "alice", Sig::Valid);
    clock.advance(1000);
    let headers = master_headers(&server);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = http(&server, "POST", "/1.2/rtm/clients/alice/kick", &headers, None).await;
    assert_eq!(status, 200);
    let mut client = Client::connect(&server).await;
    assert_eq!(error_code(&client.request(before.clone()).await), 4102, "signed before the kick");
    server.restart().await;
    let mut client = Client::connect(&server).await;
    assert_eq!(error_code(&client.request(before).await), 4102, "still void after a restart");
    clock.advance(1000);
    let after = signed_open_at(&server, "alice", Sig::Valid, NOW + 2000);
    assert_eq!(client.request(after).await.op, Some(OpType::Opened as i32), "signed after the kick");
    server.stop().await;
}

fn signed_members(server: &TestServer, op: OpType, from: &str, cid: &str, m: &[&str], how: Sig) -> GenericCommand {
    signed_members_as(server, op, if op == OpType::Add { "invite" } else { "kick" }, from, cid, m, how)
}

fn signed_members_as(
    server: &TestServer,
    op: OpType,
    action: &str,
    from: &str,
    cid: &str,
    m: &[&str],
    how: Sig,
) -> GenericCommand {
    let mut sorted = m.to_vec();
    sorted.sort();
    let joined = sorted.join(":");
    let (s, t, n) = signature(server, how, |t, n| format!("{APP_ID}:{from}:{cid}:{joined}:{t}:{n}:{action}"));
    let mut cmd = conv_members(op, cid, m);
    let conv = cmd.conv_message.as_mut().unwrap();
    (conv.s, conv.t, conv.n) = (s, t, n);
    cmd
}

#[tokio::test]
async fn add_and_remove_need_valid_signatures_when_switched_on() {
    let (server, _clock) = signed_server(|c| c.security.conversation_signature = true);
    let mut alice = Client::login(&server, "alice").await;
    let mut dave = Client::login(&server, "dave").await;
    let start = signed_start(&server, "alice", &["alice", "bob"], &["alice", "bob"], Sig::Valid);
    let cid = started_cid(&alice.request(start).await);
    for (op, done) in [(OpType::Add, OpType::Added), (OpType::Remove, OpType::Removed)] {
        for how in FAILING {
            let reply = alice.request(signed_members(&server, op, "alice", &cid, &["carol", "erin"], how)).await;
            assert_eq!(error_code(&reply), 4302, "{op:?} {how:?}");
        }
        // Signed as the other action.
        let other = if op == OpType::Add { OpType::Remove } else { OpType::Add };
        let mut cmd = signed_members(&server, other, "alice", &cid, &["carol", "erin"], Sig::Valid);
        cmd.op = Some(op as i32);
        assert_eq!(error_code(&alice.request(cmd).await), 4302, "{op:?} signed as {other:?}");
        for how in [Sig::Valid, Sig::ValidSeconds] {
            let reply = alice.request(signed_members(&server, op, "alice", &cid, &["erin", "carol"], how)).await;
            assert_eq!(reply.op, Some(done as i32), "{op:?} {how:?}: {reply:?}");
        }
    }
    // JS SDK 4.x gives its factory `add` and `remove` as the action.
    for (op, action, done) in [(OpType::Add, "add", OpType::Added), (OpType::Remove, "remove", OpType::Removed)] {
        let reply = alice.request(signed_members_as(&server, op, action, "alice", &cid, &["carol"], Sig::Valid)).await;
        assert_eq!(reply.op, Some(done as i32), "{action}: {reply:?}");
    }
    // Joining and quitting sign the client itself; quitting may come unsigned.
    for (op, done) in [(OpType::Add, OpType::Added), (OpType::Remove, OpType::Removed)] {
        let reply = dave.request(signed_members(&server, op, "dave", &cid, &["dave"], Sig::Forged)).await;
        assert_eq!(error_code(&reply), 4302);
        let reply = dave.request(signed_members(&server, op, "dave", &cid, &["dave"], Sig::Valid)).await;
        assert_eq!(reply.op, Some(done as i32));
    }
    assert_eq!(
        error_code(&dave.request(signed_members(&server, OpType::Add, "dave", &cid, &["dave"], Sig::Missing)).await),
        4302
    );
    dave.request(signed_members(&server, OpType::Add, "dave", &cid, &["dave"], Sig::Valid)).await;
    let quit = dave.request(signed_members(&server, OpType::Remove, "dave", &cid, &["dave"], Sig::Missing)).await;
    assert_eq!(quit.op, Some(OpType::Removed as i32), "{quit:?}");
    server.stop().await;
}

#[tokio::test]
async fn block_and_unblock_need_valid_signatures_when_switched_on() {
    use crate::blacklist::{client_blacklist, conv_blacklist};
    let (server, _clock) = signed_server(|c| {
        c.security.blacklist_signature = true;
        c.features.blacklist = true;
    });
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let ops = [(OpType::Block, OpType::Blocked, "block"), (OpType::Unblock, OpType::Unblocked, "unblock")];
    for (op, done, verb) in ops {
        // The conversation's list: the blocked clients are signed.
        let conv_signed = |how: Sig| {
            let (s, t, n) = signature(&server, how, |t, n| {
                format!("{APP_ID}:alice:{cid}:bob:carol:{t}:{n}:conversation-{verb}-clients")
            });
            let mut cmd = conv_blacklist(op, &cid, &["carol", "bob"]);
            let msg = cmd.blacklist_message.as_mut().unwrap();
            (msg.s, msg.t, msg.n) = (s, t, n);
            cmd
        };
        for how in FAILING {
            let reply = alice.request(conv_signed(how)).await;
            assert_eq!(error_code(&reply), 4546, "{verb} {how:?}");
            assert_eq!(reply.error_message.unwrap().reason, "BLACKLIST_SIGNATURE_FAILED");
        }
        for how in [Sig::Valid, Sig::ValidSeconds] {
            assert_eq!(alice.request(conv_signed(how)).await.op, Some(done as i32), "{verb} {how:?}");
        }
        // The client's own list: the conversation is signed, the member list left empty.
        let client_signed = |how: Sig| {
            let (s, t, n) =
                signature(&server, how, |t, n| format!("{APP_ID}:alice:{cid}::{t}:{n}:client-{verb}-conversations"));
            let mut cmd = client_blacklist(op, "alice", &[&cid]);
            let msg = cmd.blacklist_message.as_mut().unwrap();
            (msg.s, msg.t, msg.n) = (s, t, n);
            cmd
        };
        for how in FAILING {
            assert_eq!(error_code(&alice.request(client_signed(how)).await), 4546, "{verb} {how:?}");
        }
        for how in [Sig::Valid, Sig::ValidSeconds] {
            assert_eq!(alice.request(client_signed(how)).await.op, Some(done as i32), "{verb} {how:?}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn muting_members_needs_no_signature() {
    let (server, _clock) = signed_server(|c| c.security.conversation_signature = true);
    let mut alice = Client::login(&server, "alice").await;
    let start = signed_start(&server, "alice", &["alice", "bob"], &["alice", "bob"], Sig::Valid);
    let cid = started_cid(&alice.request(start).await);
    let reply = alice.request(conv_members(OpType::AddShutup, &cid, &["bob"])).await;
    assert_eq!(reply.op, Some(OpType::ShutupAdded as i32), "{reply:?}");
    let reply = alice.request(conv_members(OpType::RemoveShutup, &cid, &["bob"])).await;
    assert_eq!(reply.op, Some(OpType::ShutupRemoved as i32), "{reply:?}");
    server.stop().await;
}
