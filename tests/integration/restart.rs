//! What survives a restart: acknowledged messages, and session tokens.

use crate::client::*;
use xinshi::protocol::{CommandType, OpType, frame};

#[tokio::test]
async fn acknowledged_messages_are_in_history_after_a_restart() {
    let mut server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    let mut sent = Vec::new();
    for n in 0..30 {
        sent.push(acked(&alice.request(direct(&cid, &format!("before {n}"), Some(&format!("dt{n}")))).await));
    }
    drop(alice);
    server.restart().await;

    let mut bob = Client::login(&server, "bob").await;
    let history = bob.request(logs(&cid, |q| q.l = Some(100))).await;
    let expected: Vec<String> = (0..30).map(|n| format!("before {n}")).collect();
    assert_eq!(log_texts(&history), expected);

    // The conversation and the sequence carry on; a resend from before the restart is
    // recognised.
    let mut alice = Client::login(&server, "alice").await;
    assert_eq!(acked(&alice.request(direct(&cid, "before 29", Some("dt29"))).await), sent[29]);
    let (_, t) = acked(&alice.request(direct(&cid, "after", None)).await);
    assert!(t >= sent[29].1);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.as_deref(), Some("after"));
    let unique = started_cid(&bob.request(start_conv(&["alice"], true, "{}")).await);
    assert_eq!(unique, cid, "the unique index survives too");
    let history = bob.request(logs(&cid, |q| q.l = Some(100))).await;
    assert_eq!(log_texts(&history).len(), 31);
    server.stop().await;
}

/// Tokens live in the store (issue 11, point 6): a reconnect with `st` works after a
/// restart, as it does on any process sharing the store; a logout or a kick still ends it.
#[tokio::test]
async fn session_tokens_outlive_a_restart_but_not_a_logout_or_a_kick() {
    let mut server = TestServer::start();
    let mut alice = Client::connect(&server).await;
    let kept = alice.request(open("alice")).await.session_message.unwrap().st.unwrap();
    let mut bob = Client::connect(&server).await;
    let ended = bob.request(open("bob")).await.session_message.unwrap().st.unwrap();
    let mut close = frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("bob".into());
    bob.request(close).await;
    let mut carol = Client::connect(&server).await;
    let kicked = carol.request(open("carol")).await.session_message.unwrap().st.unwrap();
    let (status, _) = http(
        &server,
        "POST",
        "/1.2/rtm/clients/carol/kick",
        &master_headers(&server).iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    server.restart().await;

    let resume = |client: &str, st: &str| {
        let mut cmd = open(client);
        let session = cmd.session_message.as_mut().unwrap();
        (session.r, session.st) = (Some(true), Some(st.to_owned()));
        cmd
    };
    let mut socket = Client::connect(&server).await;
    assert_eq!(socket.request(resume("alice", &kept)).await.op, Some(OpType::Opened as i32), "kept across the restart");
    assert_eq!(error_code(&socket.request(resume("bob", &ended)).await), 4112, "logged out");
    assert_eq!(error_code(&socket.request(resume("carol", &kicked)).await), 4112, "kicked");
    assert_eq!(error_code(&socket.request(resume("dave", &kept)).await), 4112, "another client's token");
    server.stop().await;
}
