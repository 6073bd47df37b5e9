//! Two xinshi processes' worth of nodes over one PostgreSQL database (issue 11, points 5
//! and 6): the owner-epoch fence when both run an actor for the same conversation, and
//! session tokens and kicks seen by both. Needs the test PostgreSQL (`tests/run` starts
//! one); skipped with a notice without it.

use std::collections::HashSet;
use std::time::Duration;

use crate::client::*;
use xinshi::config::EngineKind;
use xinshi::protocol::*;

/// Two servers on one fresh database, or `None` (skipped) without the test PostgreSQL.
fn two_nodes(test: &str) -> Option<(TestServer, TestServer)> {
    let Some(admin) = std::env::var("XINSHI_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(std::env::var("XINSHI_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"), "{test}: no PostgreSQL");
        eprintln!("{test}: skipped, XINSHI_TEST_POSTGRES_URL is not set (tests/run starts a PostgreSQL)");
        return None;
    };
    let url = fresh_database(&admin);
    let node = || {
        let url = url.clone();
        TestServer::start_with(move |c| {
            no_rate_limits(c);
            c.storage.engine = EngineKind::Postgres;
            c.storage.postgres_url = url;
            c.storage.postgres_connections = 4;
        })
    };
    Some((node(), node()))
}

#[tokio::test]
async fn two_owners_of_one_conversation_never_write_a_sequence_number_twice() {
    let Some((a, b)) = two_nodes("two_owners") else { return };
    let mut alice = Client::login(&a, "alice").await;
    let mut bob = Client::login(&b, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);

    // Both nodes start an actor for the conversation (each claims it in turn) and send at
    // once, in bursts that keep several appends in flight on each.
    let mut asked = Vec::new();
    for round in 0..10 {
        for n in 0..5 {
            let dt = format!("a{round}-{n}");
            asked.push(("alice", alice.send_request(direct(&cid, &dt, Some(&dt))).await));
            let dt = format!("b{round}-{n}");
            asked.push(("bob", bob.send_request(direct(&cid, &dt, Some(&dt))).await));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mut acked, mut refused) = (Vec::new(), 0);
    for (who, i) in asked {
        let client = if who == "alice" { &mut alice } else { &mut bob };
        let reply = client.reply_to(i).await;
        match reply.cmd {
            Some(c) if c == CommandType::Ack as i32 => acked.push(reply.ack_message.unwrap().uid.unwrap()),
            _ => {
                let code = error_code(&reply);
                assert!(code == 4201 || code == 4200, "a retryable error, not {code}: {reply:?}");
                refused += 1;
            }
        }
    }
    println!("{} acknowledged, {refused} refused as fenced", acked.len());

    // Every acknowledged message is in history exactly once, with no gap and no number
    // given twice; nothing else is.
    let history = alice.request(logs(&cid, |l| l.l = Some(100))).await;
    let ids: Vec<String> = history.logs_message.unwrap().logs.iter().map(|l| l.msg_id.clone().unwrap()).collect();
    let seqs: Vec<u64> = ids.iter().map(|m| xinshi::ids::message_seq(m).unwrap()).collect();
    assert_eq!(seqs, (1..=ids.len() as u64).collect::<Vec<_>>(), "sequence numbers 1..n, in order");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        acked.iter().collect::<HashSet<_>>(),
        "history = what was acknowledged"
    );
    assert_eq!(ids.len(), acked.len());
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn tokens_and_kicks_reach_every_node() {
    let Some((a, b)) = two_nodes("tokens_and_kicks") else { return };
    let mut on_a = Client::connect(&a).await;
    let st = on_a.request(open("alice")).await.session_message.unwrap().st.unwrap();
    let resume = |st: &str| {
        let mut cmd = open("alice");
        let session = cmd.session_message.as_mut().unwrap();
        (session.r, session.st) = (Some(true), Some(st.to_owned()));
        cmd
    };
    // The token written by node A is accepted by node B (once A's pipeline has stored it).
    let mut on_b = Client::connect(&b).await;
    let mut resumed = None;
    for _ in 0..100 {
        let reply = on_b.request(resume(&st)).await;
        if reply.op == Some(OpType::Opened as i32) {
            resumed = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(resumed.is_some(), "node B never accepted node A's token");
    on_b.next_push_of(CommandType::Unread).await;

    // A kick through node A ends the session on node B within the poll interval.
    let headers = master_headers(&a);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = http(&a, "POST", "/1.2/rtm/clients/alice/kick", &headers, None).await;
    assert_eq!(status, 200);
    let closed = on_b.next_push_of(CommandType::Session).await;
    assert_eq!(closed.op, Some(OpType::Closed as i32), "{closed:?}");
    assert_eq!(closed.session_message.unwrap().code, Some(4115));
    let mut again = Client::connect(&b).await;
    assert_eq!(error_code(&again.request(resume(&st)).await), 4112, "the kick revoked the token on B too");
    b.stop().await;
    a.stop().await;
}
