//! `direct`: ack after commit, delivery to members and to the sender's other devices,
//! limits, de-duplication of resends.

use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

async fn pair(server: &TestServer) -> (Client, Client, String) {
    let mut alice = Client::login(server, "alice").await;
    let mut bob = Client::login(server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    bob.next_push_of(CommandType::Conv).await;
    (alice, bob, cid)
}

#[tokio::test]
async fn a_message_is_acked_and_delivered_to_every_device() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let mut alice_phone = Client::login(&server, "alice").await;
    let mut bob_pad = Client::login(&server, "bob").await;

    let typed = r#"{"_lctype":-1,"_lctext":"hello","_lcattrs":{"k":[1,2]}}"#;
    let (uid, t) = acked(&alice.request(direct(&cid, typed, Some("local-1"))).await);
    assert_eq!(uid.len(), 22);

    for (device, owner) in [(&mut bob, "bob"), (&mut bob_pad, "bob"), (&mut alice_phone, "alice")] {
        let push = device.next_push_of(CommandType::Direct).await;
        assert_eq!(push.service, Some(2));
        assert_eq!(push.i, None);
        assert_eq!(push.peer_id.as_deref(), Some(owner), "pushes always name their client");
        let msg = push.direct_message.unwrap();
        assert_eq!(msg.msg.as_deref(), Some(typed), "typed JSON passes unchanged");
        assert_eq!(msg.id.as_deref(), Some(uid.as_str()));
        assert_eq!(msg.cid.as_deref(), Some(cid.as_str()));
        assert_eq!(msg.from_peer_id.as_deref(), Some("alice"));
        assert_eq!(msg.timestamp, Some(t));
    }
    alice.expect_silence(300).await;
    server.stop().await;
}

#[tokio::test]
async fn messages_arrive_in_order_with_growing_timestamps() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let mut sent = Vec::new();
    for n in 0..50 {
        let mut cmd = direct(&cid, &format!("m{n}"), None);
        cmd.i = Some(1000 + n);
        alice.send(&cmd).await; // pipelined: no waiting for acks in between
        sent.push(format!("m{n}"));
    }
    let mut acks = Vec::new();
    while acks.len() < 50 {
        let reply = alice.recv().await.unwrap();
        if reply.cmd == Some(CommandType::Ack as i32) {
            acks.push((reply.i.unwrap(), acked(&reply).1));
        }
    }
    assert_eq!(acks.iter().map(|a| a.0).collect::<Vec<_>>(), (1000..1050).collect::<Vec<_>>());
    let mut received = Vec::new();
    let mut last_ts = 0;
    for _ in 0..50 {
        let msg = bob.next_push_of(CommandType::Direct).await.direct_message.unwrap();
        assert!(msg.timestamp.unwrap() >= last_ts);
        last_ts = msg.timestamp.unwrap();
        received.push(msg.msg.unwrap());
    }
    assert_eq!(received, sent);
    server.stop().await;
}

#[tokio::test]
async fn binary_and_transient_messages() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let mut binary = direct(&cid, "", None);
    let body = binary.direct_message.as_mut().unwrap();
    body.msg = None;
    body.binary_msg = Some(vec![0u8, 1, 2, 255].into());
    acked(&alice.request(binary).await);
    let push = bob.next_push_of(CommandType::Direct).await.direct_message.unwrap();
    assert_eq!(push.binary_msg.as_deref(), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(push.msg, None);

    let mut typing = direct(&cid, "typing…", None);
    typing.direct_message.as_mut().unwrap().transient = Some(true);
    acked(&alice.request(typing).await);
    let push = bob.next_push_of(CommandType::Direct).await.direct_message.unwrap();
    assert_eq!((push.msg.as_deref(), push.transient), (Some("typing…"), Some(true)));

    let history = alice.request(logs(&cid, |_| {})).await;
    let items = &history.logs_message.unwrap().logs;
    assert_eq!(items.len(), 1, "transient messages are not stored");
    assert_eq!(items[0].bin, Some(true));
    assert_eq!(items[0].data.as_deref(), Some("AAEC/w=="));
    server.stop().await;
}

#[tokio::test]
async fn oversize_messages_get_4109_and_the_socket_stays() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    // The whole command counts: content, conversation id and the rest.
    let reply = alice.request(direct(&cid, &"x".repeat(5100), None)).await;
    assert_eq!(error_code(&reply), 4109);
    assert_eq!(reply.error_message.unwrap().reason, "FRAME_TOO_LONG");
    acked(&alice.request(direct(&cid, &"x".repeat(5000), None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.unwrap().len(), 5000);
    server.stop().await;
}

#[tokio::test]
async fn non_members_cannot_send() {
    let server = TestServer::start();
    let (mut alice, _bob, cid) = pair(&server).await;
    let mut mallory = Client::login(&server, "mallory").await;
    let reply = mallory.request(direct(&cid, "let me in", None)).await;
    assert_eq!(error_code(&reply), 4401);
    assert_eq!(reply.error_message.unwrap().reason, "INVALID_MESSAGING_TARGET");
    assert_eq!(error_code(&mallory.request(direct("5f00000000000000000000ff", "anyone?", None)).await), 4401);
    let mut no_cid = direct("", "where", None);
    no_cid.direct_message.as_mut().unwrap().cid = None;
    assert_eq!(error_code(&mallory.request(no_cid).await), 4401);
    acked(&alice.request(direct(&cid, "members still can", None)).await);
    server.stop().await;
}

#[tokio::test]
async fn a_resend_with_the_same_token_is_acked_but_stored_once() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let first = acked(&alice.request(direct(&cid, "once", Some("dt-42"))).await);
    bob.next_push_of(CommandType::Direct).await;
    alice.close().await;

    // After a reconnect the SDK sends the same message again.
    let mut alice = Client::login(&server, "alice").await;
    let again = acked(&alice.request(direct(&cid, "once", Some("dt-42"))).await);
    assert_eq!(again, first);
    // The same token from someone else is a different message.
    acked(&bob.request(direct(&cid, "once", Some("dt-42"))).await);
    let history = alice.request(logs(&cid, |_| {})).await;
    assert_eq!(log_texts(&history), vec!["once", "once"]);
    assert_eq!(history.logs_message.unwrap().logs[0].msg_id.as_deref(), Some(first.0.as_str()));
    bob.expect_silence(300).await;
    server.stop().await;
}

#[tokio::test]
async fn receipts_follow_receive_acks_and_reads() {
    let server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let mut msg = direct(&cid, "did you get this?", None);
    msg.direct_message.as_mut().unwrap().r = Some(true);
    let (uid, t) = acked(&alice.request(msg).await);
    bob.next_push_of(CommandType::Direct).await;
    // The JS form of the receive-ack: a time range, no i.
    let ack = GenericCommand {
        ack_message: Some(AckCommand { cid: Some(cid.clone()), fromts: Some(t), tots: Some(t), ..Default::default() }),
        ..frame::command(CommandType::Ack, None)
    };
    bob.send(&ack).await;
    let rcp = alice.next_push_of(CommandType::Rcp).await.rcp_message.unwrap();
    assert_eq!(
        (rcp.id.as_deref(), rcp.cid.as_deref(), rcp.from.as_deref()),
        (Some(uid.as_str()), Some(cid.as_str()), Some("bob"))
    );
    assert!(rcp.t.is_some() && rcp.read.is_none());

    bob.send(&read(&cid)).await;
    let rcp = alice.next_push_of(CommandType::Rcp).await.rcp_message.unwrap();
    assert_eq!((rcp.read, rcp.t), (Some(true), Some(t)));

    let history = alice.request(logs(&cid, |_| {})).await;
    let item = &history.logs_message.unwrap().logs[0];
    assert!(item.ack_at.is_some() && item.read_at.is_some(), "{item:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_delivered_mark_nobody_waits_on_is_saved_soon_after() {
    let mut server = TestServer::start();
    let (mut alice, mut bob, cid) = pair(&server).await;
    let (uid, t) = acked(&alice.request(direct(&cid, "no receipt asked", None)).await);
    bob.next_push_of(CommandType::Direct).await;
    let ack = GenericCommand {
        ack_message: Some(AckCommand { cid: Some(cid.clone()), mid: Some(uid), t: Some(t), ..Default::default() }),
        ..frame::command(CommandType::Ack, None)
    };
    bob.send(&ack).await;
    // The mark is saved with the next append or after a short delay; history shows it then.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let history = alice.request(logs(&cid, |_| {})).await;
        if history.logs_message.unwrap().logs[0].ack_at.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delivered mark was never saved");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.restart().await;
    let mut alice = Client::login(&server, "alice").await;
    let history = alice.request(logs(&cid, |_| {})).await;
    assert!(history.logs_message.unwrap().logs[0].ack_at.is_some(), "the mark survives a restart");
    server.stop().await;
}

#[tokio::test]
async fn idle_conversation_actors_stop_and_come_back_from_the_store() {
    let server = TestServer::start_with(|c| c.limits.conversation_idle_secs = 1);
    let (mut alice, mut bob, cid) = pair(&server).await;
    let first = acked(&alice.request(direct(&cid, "one", Some("dt-one"))).await);
    bob.next_push_of(CommandType::Direct).await;
    let node = server.server.as_ref().unwrap().node().clone();
    assert_eq!(node.convs.running(), 1);
    let deadline = tokio::time::Instant::now() + WAIT;
    while node.convs.running() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the idle actor did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A new actor picks up where the old one stopped: same de-duplication, next sequence.
    assert_eq!(acked(&alice.request(direct(&cid, "one", Some("dt-one"))).await), first);
    acked(&alice.request(direct(&cid, "two", None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.as_deref(), Some("two"));
    assert_eq!(log_texts(&bob.request(logs(&cid, |_| {})).await), vec!["one", "two"]);
    server.stop().await;
}
