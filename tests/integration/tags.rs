//! Device tags and single-device login (spec/leancloud-im.md §3.5), and forced offline
//! (§3.9): one test per row of the table.

use crate::client::*;
use xinshi::protocol::*;

/// `session/open` of `client` from device `device` with `tag`.
fn open_tagged(client: &str, tag: Option<&str>, device: &str) -> GenericCommand {
    let mut cmd = open(client);
    let session = cmd.session_message.as_mut().unwrap();
    session.tag = tag.map(Into::into);
    session.device_id = Some(device.into());
    cmd
}

/// An automatic re-open presenting `st`, without tag or device (as the JS SDK sends it).
fn reopen(client: &str, st: &str) -> GenericCommand {
    let mut cmd = open(client);
    let session = cmd.session_message.as_mut().unwrap();
    (session.r, session.st) = (Some(true), Some(st.into()));
    cmd
}

/// Logs in on a new socket; returns it and the session token.
async fn device(server: &TestServer, cmd: GenericCommand) -> (Client, String) {
    let mut socket = Client::connect(server).await;
    let opened = socket.request(cmd).await;
    assert_eq!(opened.op, Some(OpType::Opened as i32), "{opened:?}");
    socket.next_push_of(CommandType::Unread).await;
    (socket, opened.session_message.unwrap().st.unwrap())
}

/// The `session/closed` push a kicked session gets: `(code, reason)`.
async fn closed_push(socket: &mut Client) -> (i32, String) {
    let push = socket.next_push_of(CommandType::Session).await;
    assert_eq!(push.op, Some(OpType::Closed as i32), "{push:?}");
    let session = push.session_message.unwrap();
    (session.code.unwrap(), session.reason.unwrap())
}

/// Whether `socket`'s session still works (a conversation query succeeds).
async fn works(socket: &mut Client) -> bool {
    let reply = socket.request(query_convs("{}", |_| {})).await;
    reply.cmd != Some(CommandType::Error as i32)
}

fn online_sessions(server: &TestServer, client: &str) -> usize {
    server.node().presence.sessions(client).len()
}

#[tokio::test]
async fn without_a_tag_or_with_default_every_device_stays() {
    let server = TestServer::start();
    let (mut a, _) = device(&server, open_tagged("alice", None, "phone")).await;
    let (mut b, _) = device(&server, open_tagged("alice", None, "pad")).await;
    let (mut c, _) = device(&server, open_tagged("alice", Some("default"), "web")).await;
    let (mut d, _) = device(&server, open_tagged("alice", Some("default"), "laptop")).await;
    for socket in [&mut a, &mut b, &mut c, &mut d] {
        assert!(works(socket).await);
    }
    a.expect_silence(200).await;
    assert_eq!(online_sessions(&server, "alice"), 4);
    server.stop().await;
}

#[tokio::test]
async fn a_new_login_with_the_same_tag_kicks_the_other_device_with_4111() {
    let server = TestServer::start();
    let (mut phone, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-1")).await;
    let (mut other, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-2")).await;
    let (code, reason) = closed_push(&mut phone).await;
    assert_eq!(code, 4111);
    assert!(reason.contains("Mobile"), "{reason}");
    assert!(works(&mut other).await);
    assert_eq!(error_code(&phone.request(query_convs("{}", |_| {})).await), 4105, "the kicked session is gone");
    assert_eq!(online_sessions(&server, "alice"), 1);
    server.stop().await;
}

#[tokio::test]
async fn different_tags_coexist() {
    let server = TestServer::start();
    let (mut mobile, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone")).await;
    let (mut pad, _) = device(&server, open_tagged("alice", Some("Pad"), "pad")).await;
    let (mut web, _) = device(&server, open_tagged("alice", Some("Web"), "browser")).await;
    for socket in [&mut mobile, &mut pad, &mut web] {
        assert!(works(socket).await);
    }
    mobile.expect_silence(200).await;
    // Another client's tag is its own.
    let (mut bob, _) = device(&server, open_tagged("bob", Some("Mobile"), "phone-b")).await;
    assert!(works(&mut bob).await);
    assert!(works(&mut mobile).await);
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_never_kicks_it_is_refused_with_4111() {
    let server = TestServer::start();
    let (mut first, first_st) = device(&server, open_tagged("alice", Some("Mobile"), "phone-1")).await;
    let (mut second, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-2")).await;
    assert_eq!(closed_push(&mut first).await.0, 4111);
    // The kicked device's SDK comes back on its own with r: true and its token.
    let mut comeback = Client::connect(&server).await;
    let reply = comeback.request(reopen("alice", &first_st)).await;
    assert_eq!(error_code(&reply), 4111);
    assert_eq!(reply.error_message.unwrap().reason, "SESSION_CONFLICT");
    second.expect_silence(200).await;
    assert!(works(&mut second).await, "the device holding the tag keeps it");
    server.stop().await;
}

#[tokio::test]
async fn an_app_asking_for_reconnect_semantics_is_refused_instead_of_kicking() {
    let server = TestServer::start();
    let (mut holder, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-1")).await;
    let mut cmd = open_tagged("alice", Some("Mobile"), "phone-2");
    cmd.session_message.as_mut().unwrap().r = Some(true);
    let mut newcomer = Client::connect(&server).await;
    assert_eq!(error_code(&newcomer.request(cmd).await), 4111);
    holder.expect_silence(200).await;
    assert!(works(&mut holder).await);
    server.stop().await;
}

#[tokio::test]
async fn the_same_device_coming_back_replaces_its_old_session_quietly() {
    let server = TestServer::start();
    // Reconnect with the token after the network dropped (the old socket is not noticed yet).
    let (mut stale, st) = device(&server, open_tagged("alice", Some("Mobile"), "phone-1")).await;
    let mut fresh = Client::connect(&server).await;
    assert_eq!(fresh.request(reopen("alice", &st)).await.op, Some(OpType::Opened as i32));
    fresh.next_push_of(CommandType::Unread).await;
    stale.expect_silence(200).await;
    assert_eq!(online_sessions(&server, "alice"), 1);

    // A new login (r: false) from the same deviceId, e.g. after the app restarted.
    let (mut restarted, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-1")).await;
    fresh.expect_silence(200).await;
    assert!(works(&mut restarted).await);
    assert_eq!(online_sessions(&server, "alice"), 1);
    // The token keeps the tag: another device with the tag still kicks the reconnected one.
    let (_, _) = device(&server, open_tagged("alice", Some("Mobile"), "phone-2")).await;
    assert_eq!(closed_push(&mut restarted).await.0, 4111);
    server.stop().await;
}

#[tokio::test]
async fn a_forced_logout_closes_every_device_with_4115_and_revokes_tokens() {
    let server = TestServer::start();
    let (mut phone, st) = device(&server, open_tagged("alice", Some("Mobile"), "phone")).await;
    let (mut web, _) = device(&server, open_tagged("alice", None, "browser")).await;
    let (mut bob, _) = device(&server, open_tagged("bob", None, "bobs-phone")).await;
    let headers = master_headers(&server);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = serde_json::json!({ "reason": "banned for spamming, and this is longer than 20" });
    let (status, answer) = http(&server, "POST", "/1.2/rtm/clients/alice/kick", &headers, Some(&body)).await;
    assert_eq!((status, answer), (200, serde_json::json!({})));
    for socket in [&mut phone, &mut web] {
        assert_eq!(closed_push(socket).await, (4115, "banned for spamming,".to_string()));
    }
    assert!(works(&mut bob).await, "other clients are untouched");
    let mut comeback = Client::connect(&server).await;
    assert_eq!(error_code(&comeback.request(reopen("alice", &st)).await), 4112, "the token was revoked");

    // The legacy endpoint, and the master key is required.
    let (_, _) = device(&server, open_tagged("bob", None, "bobs-pad")).await;
    let body = serde_json::json!({ "client_id": "bob", "reason": "bye" });
    let app_key = [("X-LC-Id", APP_ID), ("X-LC-Key", server.config.app.key.as_str())];
    let (status, _) = http(&server, "POST", "/1.1/rtm/client/kick", &app_key, Some(&body)).await;
    assert_eq!(status, 401);
    let (status, _) = http(&server, "POST", "/1.1/rtm/client/kick", &headers, Some(&body)).await;
    assert_eq!(status, 200);
    assert_eq!(closed_push(&mut bob).await, (4115, "bye".to_string()));
    eventually("bob's sessions end", || online_sessions(&server, "bob") == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn two_devices_logging_in_at_once_leave_one_holder_of_the_tag() {
    let server = TestServer::start();
    for round in 0..20 {
        let client = format!("racer{round}");
        let mut a = Client::connect(&server).await;
        let mut b = Client::connect(&server).await;
        let (ia, ib) = tokio::join!(
            a.send_request(open_tagged(&client, Some("Mobile"), "device-a")),
            b.send_request(open_tagged(&client, Some("Mobile"), "device-b")),
        );
        for (socket, i) in [(&mut a, ia), (&mut b, ib)] {
            while !socket.inbox.iter().any(|c| c.i == Some(i)) {
                let got = socket.recv().await.unwrap();
                socket.inbox.push_back(got);
            }
        }
        eventually("one device holds the tag", || online_sessions(&server, &client) == 1).await;
    }
    server.stop().await;
}
