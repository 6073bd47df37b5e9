//! Two xinshi processes' worth of nodes over one PostgreSQL database (issue 11, points 5
//! and 6): the owner-epoch fence when both run an actor for the same conversation, and
//! session tokens and kicks seen by both. Needs the test PostgreSQL (`tests/run` starts
//! one); skipped with a notice without it.

use std::collections::HashSet;
use std::time::Duration;

use crate::client::*;
use xinshi::config::EngineKind;
use xinshi::protocol::frame;
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
    // Node A's token is accepted by node B: both read the signing secret from the store.
    let mut on_b = Client::connect(&b).await;
    let resumed = on_b.request(resume(&st)).await;
    assert_eq!(resumed.op, Some(OpType::Opened as i32), "node B accepts node A's token: {resumed:?}");
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

    // A logout on node A ends the token on node B too (once A's pipeline has stored it).
    let mut on_a = Client::connect(&a).await;
    let st = on_a.request(open("alice")).await.session_message.unwrap().st.unwrap();
    let mut close = frame::command(CommandType::Session, Some(OpType::Close));
    close.peer_id = Some("alice".into());
    assert_eq!(on_a.request(close).await.op, Some(OpType::Closed as i32));
    let mut refused = false;
    for _ in 0..100 {
        let mut on_b = Client::connect(&b).await;
        if error_code(&on_b.request(resume(&st)).await) == 4112 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "node B still accepts a token logged out on node A");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_membership_change_by_a_fenced_owner_is_refused_not_written() {
    let Some((a, b)) = two_nodes("fenced_membership") else { return };
    let mut alice = Client::login(&a, "alice").await;
    let mut bob = Client::login(&b, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    // Node A's actor claims the conversation, then node B's claims it from A.
    acked(&alice.request(direct(&cid, "from a", None)).await);
    acked(&bob.request(direct(&cid, "from b", None)).await);

    // A's actor no longer owns it: its removal of bob is refused (retryable), and it stops.
    let remove = || crate::update::conv_op(OpType::Remove, &cid, |c| c.m = vec!["bob".into()]);
    let refused = alice.request(remove()).await;
    assert_eq!(error_code(&refused), 4201, "a stale owner's change is refused: {refused:?}");
    // Sent again, it reaches a fresh actor on A, which claims the conversation back.
    let removed = alice.request(remove()).await;
    assert_eq!(removed.op, Some(OpType::Removed as i32), "{removed:?}");

    // B's actor still believes bob is a member; its append is fenced, and a fresh actor
    // on B, loaded from the store, refuses bob.
    let fenced = bob.request(direct(&cid, "stale", None)).await;
    assert_eq!(error_code(&fenced), 4201, "{fenced:?}");
    let refused = bob.request(direct(&cid, "after", None)).await;
    assert_eq!(error_code(&refused), 4401, "{refused:?}");
    let history = alice.request(logs(&cid, |_| {})).await;
    assert_eq!(log_texts(&history), ["from a", "from b"], "nothing from the stale owners");
    b.stop().await;
    a.stop().await;
}
