//! Acknowledged messages survive a restart.

use crate::client::*;
use xinshi::protocol::CommandType;

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
