//! Muting members (spec/leancloud-im.md §6.2): `conv/add_shutup` and friends.

use crate::client::*;
use xinshi::protocol::*;

/// The next conv push: `(op, m)`.
async fn conv_event(client: &mut Client) -> (OpType, Vec<String>) {
    let push = client.next_push_of(CommandType::Conv).await;
    (OpType::try_from(push.op.unwrap()).unwrap(), push.conv_message.unwrap().m)
}

fn m_of(reply: &GenericCommand, op: OpType) -> Vec<String> {
    assert_eq!(reply.op, Some(op as i32), "{reply:?}");
    reply.conv_message.as_ref().unwrap().m.clone()
}

#[tokio::test]
async fn a_muted_member_cannot_send_but_still_receives() {
    let mut server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    assert_eq!(conv_event(&mut bob).await.0, OpType::Joined);

    let reply = alice.request(conv_members(OpType::AddShutup, &cid, &["bob", "bad id"])).await;
    assert_eq!(reply.op, Some(OpType::ShutupAdded as i32), "{reply:?}");
    let conv = reply.conv_message.unwrap();
    assert_eq!(conv.allowed_pids, vec!["bob"]);
    assert_eq!(conv.failed_pids[0].code, 4103);
    assert_eq!(conv_event(&mut bob).await, (OpType::Shutuped, vec![]));
    assert_eq!(conv_event(&mut bob).await, (OpType::MembersShutuped, vec!["bob".to_string()]));
    assert_eq!(conv_event(&mut alice).await, (OpType::MembersShutuped, vec!["bob".to_string()]));

    let refused = bob.request(direct(&cid, "can I speak?", None)).await;
    assert_eq!(error_code(&refused), 4563);
    assert_eq!(refused.error_message.unwrap().reason, "SILIENCED");
    acked(&alice.request(direct(&cid, "you may listen", None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.unwrap(), "you may listen");

    assert_eq!(m_of(&alice.request(conv_members(OpType::QueryShutup, &cid, &[])).await, OpType::ShutupResult), ["bob"]);
    let checked = alice.request(conv_members(OpType::CheckShutup, &cid, &["bob", "carol"])).await;
    assert_eq!(m_of(&checked, OpType::CheckResult), ["bob"]);

    // It is stored: still muted after a restart.
    server.restart().await;
    let mut bob = Client::login(&server, "bob").await;
    let mut alice = Client::login(&server, "alice").await;
    assert_eq!(error_code(&bob.request(direct(&cid, "after the restart?", None)).await), 4563);

    let reply = alice.request(conv_members(OpType::RemoveShutup, &cid, &["bob"])).await;
    assert_eq!(reply.op, Some(OpType::ShutupRemoved as i32));
    assert_eq!(conv_event(&mut bob).await, (OpType::Unshutuped, vec![]));
    acked(&bob.request(direct(&cid, "thank you", None)).await);
    server.stop().await;
}

#[tokio::test]
async fn only_members_mute_and_the_list_has_a_cap() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut dave = Client::login(&server, "dave").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    assert_eq!(error_code(&dave.request(conv_members(OpType::AddShutup, &cid, &["bob"])).await), 4309);

    let many: Vec<String> = (0..501).map(|n| format!("u{n:03}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let reply = alice.request(conv_members(OpType::AddShutup, &cid, &many)).await;
    let conv = reply.conv_message.unwrap();
    assert_eq!(conv.allowed_pids.len(), 500);
    assert_eq!((conv.failed_pids[0].code, conv.failed_pids[0].pids.clone()), (4561, vec!["u500".to_string()]));

    let mut query = conv_members(OpType::QueryShutup, &cid, &[]);
    query.conv_message.as_mut().unwrap().limit = Some(300);
    let first = alice.request(query.clone()).await.conv_message.unwrap();
    assert_eq!((first.m.len(), first.next.as_deref()), (100, Some("u099")), "at most 100 a page");
    query.conv_message.as_mut().unwrap().next = first.next;
    assert_eq!(alice.request(query).await.conv_message.unwrap().m[0], "u100");
    server.stop().await;
}
