//! Blacklists (spec/leancloud-im.md §6.3): a conversation blocking clients, a client
//! blocking conversations, and what that does to joining and adding.

use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

pub fn conv_blacklist(op: OpType, cid: &str, pids: &[&str]) -> GenericCommand {
    GenericCommand {
        blacklist_message: Some(BlacklistCommand {
            src_cid: Some(cid.into()),
            to_pids: pids.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Blacklist, Some(op))
    }
}

pub fn client_blacklist(op: OpType, client: &str, cids: &[&str]) -> GenericCommand {
    GenericCommand {
        blacklist_message: Some(BlacklistCommand {
            src_pid: Some(client.into()),
            to_cids: cids.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Blacklist, Some(op))
    }
}

fn answer(reply: &GenericCommand, op: OpType) -> BlacklistCommand {
    assert_eq!((reply.cmd, reply.op), (Some(CommandType::Blacklist as i32), Some(op as i32)), "{reply:?}");
    reply.blacklist_message.clone().unwrap()
}

fn failed_codes(reply: &GenericCommand) -> Vec<i32> {
    reply.conv_message.as_ref().unwrap().failed_pids.iter().map(|f| f.code).collect()
}

async fn conv_op(client: &mut Client) -> OpType {
    OpType::try_from(client.next_push_of(CommandType::Conv).await.op.unwrap()).unwrap()
}

fn with_blacklists(config: &mut xinshi::config::Config) {
    config.features.blacklist = true;
}

#[tokio::test]
async fn blacklists_are_off_unless_switched_on() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let reply = alice.request(conv_blacklist(OpType::Block, &cid, &["bob"])).await;
    assert_eq!(error_code(&reply), 4544);
    assert_eq!(reply.error_message.unwrap().reason, "BLACKLIST_FEATURE_DISABLED");
    server.stop().await;
}

#[tokio::test]
async fn a_conversation_blocks_a_member_who_then_cannot_come_back() {
    let server = TestServer::start_with(with_blacklists);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    assert_eq!(conv_op(&mut bob).await, OpType::Joined);

    let reply = alice.request(conv_blacklist(OpType::Block, &cid, &["bob", "alice", "bad id"])).await;
    let blocked = answer(&reply, OpType::Blocked);
    assert_eq!(blocked.allowed_pids, vec!["bob"]);
    let failed: Vec<(i32, Vec<String>)> = blocked.failed_pids.iter().map(|f| (f.code, f.pids.clone())).collect();
    assert_eq!(failed, vec![(4324, vec!["alice".to_string()]), (4103, vec!["bad id".to_string()])]);
    assert_eq!(conv_op(&mut bob).await, OpType::Blocked);
    assert_eq!(conv_op(&mut bob).await, OpType::Left);
    let members_blocked = alice.next_push_of(CommandType::Conv).await;
    assert_eq!(members_blocked.op, Some(OpType::MembersBlocked as i32));
    assert_eq!(members_blocked.conv_message.unwrap().m, vec!["bob"]);
    assert_eq!(conv_op(&mut alice).await, OpType::MembersLeft);

    assert_eq!(error_code(&bob.request(direct(&cid, "let me in", None)).await), 4401);
    let rejoin = bob.request(conv_members(OpType::Add, &cid, &["bob"])).await;
    assert_eq!(failed_codes(&rejoin), vec![4548]);
    let readd = alice.request(conv_members(OpType::Add, &cid, &["bob", "dave"])).await;
    assert_eq!(readd.conv_message.as_ref().unwrap().allowed_pids, vec!["dave"]);
    assert_eq!(failed_codes(&readd), vec![4548]);
    assert_eq!(error_code(&bob.request(conv_blacklist(OpType::Unblock, &cid, &["bob"])).await), 4309);

    let listed = answer(&alice.request(conv_blacklist(OpType::Query, &cid, &[])).await, OpType::QueryResult);
    assert_eq!(listed.blocked_pids, vec!["bob"]);
    let checked = alice.request(conv_blacklist(OpType::CheckBlock, &cid, &["bob", "carol"])).await;
    assert_eq!(answer(&checked, OpType::CheckResult).blocked_pids, vec!["bob"]);

    let reply = alice.request(conv_blacklist(OpType::Unblock, &cid, &["bob"])).await;
    assert_eq!(answer(&reply, OpType::Unblocked).allowed_pids, vec!["bob"]);
    assert_eq!(conv_op(&mut bob).await, OpType::Unblocked);
    let rejoin = bob.request(conv_members(OpType::Add, &cid, &["bob"])).await;
    assert_eq!(rejoin.conv_message.unwrap().allowed_pids, vec!["bob"]);
    server.stop().await;
}

#[tokio::test]
async fn query_pages_through_the_list() {
    let server = TestServer::start_with(with_blacklists);
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    answer(&alice.request(conv_blacklist(OpType::Block, &cid, &["u1", "u2", "u3"])).await, OpType::Blocked);
    let mut query = conv_blacklist(OpType::Query, &cid, &[]);
    query.blacklist_message.as_mut().unwrap().limit = Some(2);
    let first = answer(&alice.request(query.clone()).await, OpType::QueryResult);
    assert_eq!(first.blocked_pids, vec!["u1", "u2"]);
    query.blacklist_message.as_mut().unwrap().next = first.next;
    let second = answer(&alice.request(query).await, OpType::QueryResult);
    assert_eq!((second.blocked_pids, second.next), (vec!["u3".to_string()], None));
    server.stop().await;
}

#[tokio::test]
async fn a_client_blocks_a_conversation_so_nobody_can_add_it() {
    let server = TestServer::start_with(with_blacklists);
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);

    let reply = carol.request(client_blacklist(OpType::Block, "carol", &[&cid])).await;
    assert_eq!(answer(&reply, OpType::Blocked).allowed_pids, vec![cid.clone()]);
    assert_eq!(failed_codes(&alice.request(conv_members(OpType::Add, &cid, &["carol"])).await), vec![4548]);
    let listed = answer(&carol.request(client_blacklist(OpType::Query, "carol", &[])).await, OpType::QueryResult);
    assert_eq!(listed.blocked_cids, vec![cid.clone()]);
    let checked = carol.request(client_blacklist(OpType::CheckBlock, "carol", &[&cid, "other"])).await;
    assert_eq!(answer(&checked, OpType::CheckResult).blocked_cids, vec![cid.clone()]);
    assert_eq!(error_code(&alice.request(client_blacklist(OpType::Block, "carol", &[&cid])).await), 4309);

    answer(&carol.request(client_blacklist(OpType::Unblock, "carol", &[&cid])).await, OpType::Unblocked);
    let added = alice.request(conv_members(OpType::Add, &cid, &["carol"])).await;
    assert_eq!(added.conv_message.unwrap().allowed_pids, vec!["carol"]);
    server.stop().await;
}
