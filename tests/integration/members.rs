//! `conv/add` and `conv/remove`: join, invite, quit, kick, their events and partial failures.

use crate::client::*;
use xinshi::protocol::*;

/// `(allowedPids, [(code, pids)])` of an `added` / `removed` reply.
fn verdicts(reply: &GenericCommand, op: OpType) -> (Vec<String>, Vec<(i32, Vec<String>)>) {
    assert_eq!(reply.op, Some(op as i32), "{reply:?}");
    let conv = reply.conv_message.as_ref().unwrap();
    (conv.allowed_pids.clone(), conv.failed_pids.iter().map(|f| (f.code, f.pids.clone())).collect())
}

/// The next conv push: `(op, initBy, m)`.
async fn conv_event(client: &mut Client) -> (OpType, String, Vec<String>) {
    let push = client.next_push_of(CommandType::Conv).await;
    let conv = push.conv_message.unwrap();
    (OpType::try_from(push.op.unwrap()).unwrap(), conv.init_by.unwrap(), conv.m)
}

#[tokio::test]
async fn invite_and_kick_reach_everyone_concerned() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let mut carol = Client::login(&server, "carol").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    assert_eq!(conv_event(&mut bob).await.0, OpType::Joined);

    let reply = alice.request(conv_members(OpType::Add, &cid, &["carol"])).await;
    assert_eq!(verdicts(&reply, OpType::Added), (vec!["carol".to_string()], vec![]));
    assert_eq!(conv_event(&mut carol).await, (OpType::Joined, "alice".into(), vec![]));
    let joined = (OpType::MembersJoined, "alice".to_string(), vec!["carol".to_string()]);
    assert_eq!(conv_event(&mut carol).await, joined);
    assert_eq!(conv_event(&mut bob).await, joined);
    assert_eq!(conv_event(&mut alice).await, joined);
    // carol can talk now, and hears what is said.
    acked(&carol.request(direct(&cid, "hi all", None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.unwrap(), "hi all");

    let reply = bob.request(conv_members(OpType::Remove, &cid, &["carol"])).await;
    assert_eq!(verdicts(&reply, OpType::Removed), (vec!["carol".to_string()], vec![]));
    assert_eq!(conv_event(&mut carol).await, (OpType::Left, "bob".into(), vec![]));
    let left = (OpType::MembersLeft, "bob".to_string(), vec!["carol".to_string()]);
    assert_eq!(conv_event(&mut alice).await, left);
    assert_eq!(conv_event(&mut bob).await, left);
    assert_eq!(error_code(&carol.request(direct(&cid, "still here?", None)).await), 4401);
    let found = results(&alice.request(query_convs(&format!(r#"{{"objectId":"{cid}"}}"#), |_| {})).await);
    assert_eq!(found[0]["m"], serde_json::json!(["alice", "bob"]));
    carol.expect_silence(200).await;
    server.stop().await;
}

#[tokio::test]
async fn join_and_quit() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut dave = Client::login(&server, "dave").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);

    let reply = dave.request(conv_members(OpType::Add, &cid, &["dave"])).await;
    assert_eq!(verdicts(&reply, OpType::Added).0, vec!["dave"]);
    let joined = (OpType::MembersJoined, "dave".to_string(), vec!["dave".to_string()]);
    assert_eq!(conv_event(&mut dave).await, joined, "a joiner sees members_joined, not joined");
    assert_eq!(conv_event(&mut alice).await, joined);

    let reply = dave.request(conv_members(OpType::Remove, &cid, &["dave"])).await;
    assert_eq!(verdicts(&reply, OpType::Removed).0, vec!["dave"]);
    assert_eq!(conv_event(&mut dave).await, (OpType::Left, "dave".into(), vec![]));
    assert_eq!(conv_event(&mut alice).await, (OpType::MembersLeft, "dave".into(), vec!["dave".to_string()]));
    dave.expect_silence(200).await;

    // A non-member may join but not invite or kick.
    assert_eq!(error_code(&dave.request(conv_members(OpType::Add, &cid, &["erin"])).await), 4309);
    assert_eq!(error_code(&dave.request(conv_members(OpType::Remove, &cid, &["bob"])).await), 4309);
    // No such conversation.
    let reply = dave.request(conv_members(OpType::Add, &"0".repeat(24), &["dave"])).await;
    assert_eq!(error_code(&reply), 4303);
    server.stop().await;
}

#[tokio::test]
async fn partial_failures_are_listed_per_reason() {
    let server = TestServer::start_with(|c| c.limits.max_members = 4);
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let reply = alice.request(conv_members(OpType::Add, &cid, &["bob", "carol", "bad id", "dave", "erin"])).await;
    let (allowed, failed) = verdicts(&reply, OpType::Added);
    assert_eq!(allowed, vec!["bob", "carol", "dave"]);
    assert_eq!(failed, vec![(4103, vec!["bad id".to_string()]), (4304, vec!["erin".to_string()])]);
    let reason = &reply.conv_message.as_ref().unwrap().failed_pids[1].reason;
    assert_eq!(reason, "CONVERSATION_FULL");

    // The creator may neither quit nor be removed.
    let mut bob = Client::login(&server, "bob").await;
    let reply = bob.request(conv_members(OpType::Remove, &cid, &["alice", "carol"])).await;
    let (allowed, failed) = verdicts(&reply, OpType::Removed);
    assert_eq!((allowed, failed), (vec!["carol".to_string()], vec![(4324, vec!["alice".to_string()])]));
    let reply = alice.request(conv_members(OpType::Remove, &cid, &["alice"])).await;
    assert_eq!(reply.conv_message.unwrap().failed_pids[0].reason, "CONVERSATION_NEED_OWNER");
    server.stop().await;
}
