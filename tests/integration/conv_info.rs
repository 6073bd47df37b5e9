//! `conv/count` (F-CONV-COUNT), `conv/max_read` (F-MSG-READ, F-MSG-GROUPRECEIPT) and
//! `conv/is_member`, spec/leancloud-im.md §4.7, §4.8, §5.11.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::*;
use crate::update::conv_op;
use xinshi::protocol::*;

#[tokio::test]
async fn f_conv_count_counts_members() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut dave = Client::login(&server, "dave").await;
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    let reply = alice.request(conv_op(OpType::Count, &cid, |_| {})).await;
    assert_eq!(reply.op, Some(OpType::Result as i32), "{reply:?}");
    assert_eq!(reply.conv_message.unwrap().count, Some(3));
    alice.request(conv_members(OpType::Add, &cid, &["dave"])).await;
    assert_eq!(dave.request(conv_op(OpType::Count, &cid, |_| {})).await.conv_message.unwrap().count, Some(4));
    let mut erin = Client::login(&server, "erin").await;
    assert_eq!(
        erin.request(conv_op(OpType::Count, &cid, |_| {})).await.conv_message.unwrap().count,
        Some(4),
        "anyone may count"
    );
    assert_eq!(error_code(&erin.request(conv_op(OpType::Count, "5f00000000000000000000ff", |_| {})).await), 4303);
    server.stop().await;
}

fn receive_ack(cid: &str, mid: &str) -> GenericCommand {
    GenericCommand {
        ack_message: Some(AckCommand { cid: Some(cid.into()), mid: Some(mid.into()), ..Default::default() }),
        ..frame::command(CommandType::Ack, None)
    }
}

fn read_up_to(cid: &str, mid: &str, timestamp: i64) -> GenericCommand {
    let tuple = ReadTuple { cid: cid.into(), mid: Some(mid.into()), timestamp: Some(timestamp) };
    GenericCommand {
        read_message: Some(ReadCommand { convs: vec![tuple], ..Default::default() }),
        ..frame::command(CommandType::Read, None)
    }
}

/// Asks `max_read` until `done` holds for the answer (receipts travel without a reply).
async fn max_read_until(client: &mut Client, cid: &str, all: bool, done: impl Fn(&ConvCommand) -> bool) -> ConvCommand {
    for _ in 0..500 {
        let reply = client.request(conv_op(OpType::MaxRead, cid, |c| c.query_all_members = all.then_some(true))).await;
        assert_eq!(reply.op, Some(OpType::MaxRead as i32), "{reply:?}");
        let answer = reply.conv_message.unwrap();
        if done(&answer) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("max_read never got there");
}

#[tokio::test]
async fn f_msg_read_max_read_reports_the_other_members_marks() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let nothing = max_read_until(&mut alice, &cid, false, |_| true).await;
    assert_eq!((nothing.max_ack_timestamp, nothing.max_read_timestamp), (None, None), "no marks yet");

    let (first, t1) = acked(&alice.request(direct(&cid, "one", None)).await);
    let (second, t2) = acked(&alice.request(direct(&cid, "two", None)).await);
    bob.send(&receive_ack(&cid, &second)).await;
    let mine = max_read_until(&mut alice, &cid, false, |a| a.max_ack_timestamp == Some(t2)).await;
    assert_eq!(mine.max_read_timestamp, None, "delivered, not read yet");
    bob.send(&read_up_to(&cid, &first, t1)).await;
    let mine = max_read_until(&mut alice, &cid, false, |a| a.max_read_timestamp == Some(t1)).await;
    assert_eq!((mine.cid.as_deref(), mine.max_ack_timestamp), (Some(cid.as_str()), Some(t2)));

    // Every member's marks, in member order; alice's are her own.
    let all = max_read_until(&mut bob, &cid, true, |a| !a.max_read_tuples.is_empty()).await;
    let pids: Vec<&str> = all.max_read_tuples.iter().map(|t| t.pid.as_deref().unwrap()).collect();
    assert_eq!(pids, ["alice", "bob"]);
    let of_bob = &all.max_read_tuples[1];
    assert_eq!((of_bob.max_ack_timestamp, of_bob.max_read_timestamp), (Some(t2), Some(t1)));
    // Seen from bob, the "other members" are alice alone.
    let his = max_read_until(&mut bob, &cid, false, |_| true).await;
    assert_eq!(his.max_read_timestamp, all.max_read_tuples[0].max_read_timestamp);

    // Only members may ask.
    let mut carol = Client::login(&server, "carol").await;
    let refused = carol.request(conv_op(OpType::MaxRead, &cid, |_| {})).await;
    assert_eq!(error_code(&refused), 4317);
    assert_eq!(refused.error_message.unwrap().reason, "CONVERSATION_MEMBERSHIP_REQUIRED");
    assert_eq!(error_code(&carol.request(conv_op(OpType::MaxRead, "5f00000000000000000000ff", |_| {})).await), 4303);
    server.stop().await;
}

#[tokio::test]
async fn f_msg_read_max_read_survives_a_restart() {
    let mut server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let (mid, t) = acked(&alice.request(direct(&cid, "one", None)).await);
    bob.send(&read_up_to(&cid, &mid, t)).await;
    max_read_until(&mut alice, &cid, false, |a| a.max_read_timestamp == Some(t)).await;
    server.restart().await;
    let mut alice = Client::login(&server, "alice").await;
    let marks = max_read_until(&mut alice, &cid, false, |_| true).await;
    assert_eq!((marks.max_ack_timestamp, marks.max_read_timestamp), (Some(t), Some(t)), "read implies delivered");
    server.stop().await;
}

#[tokio::test]
async fn f_conv_is_member_answers_per_conversation() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let mine = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let theirs = started_cid(&carol.request(start_conv(&["dave"], false, "{}")).await);
    let unknown = "5f00000000000000000000ff";
    let ask = conv_op(OpType::IsMember, "", |c| {
        c.cid = None;
        c.cids = vec![mine.clone(), theirs.clone(), unknown.into()];
    });
    let reply = alice.request(ask).await;
    assert_eq!(reply.op, Some(OpType::IsMember as i32), "{reply:?}");
    let results: Value = serde_json::from_str(&reply.conv_message.unwrap().results.unwrap().data).unwrap();
    assert_eq!(results, json!({ mine.as_str(): true, theirs.as_str(): false, unknown: false }));

    let too_many = conv_op(OpType::IsMember, "", |c| c.cids = (0..101).map(|n| format!("c{n}")).collect());
    assert_eq!(error_code(&alice.request(too_many).await), 4310);
    server.stop().await;
}
