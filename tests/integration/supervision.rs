//! Conversation actors never block their threads on the store, and one that fails is
//! restarted from the store without anyone else noticing (issue 11, points 2 and 3;
//! docs/actors.md).

use std::time::{Duration, Instant};

use crate::client::*;
use xinshi::protocol::*;

/// The slowest a send to an unaffected conversation may be answered (its normal latency is
/// a few milliseconds; the affected conversation is held up for seconds).
const UNAFFECTED: Duration = Duration::from_millis(700);

#[tokio::test]
async fn a_slow_store_for_one_conversation_does_not_hold_up_the_others() {
    // One runtime thread for every conversation actor: a blocked actor would stall them all.
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.server.core_threads = 1;
    });
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let mut carol = Client::login(&server, "carol").await;
    let slow = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let fast = started_cid(&carol.request(start_conv(&["bob"], false, "{}")).await);
    acked(&alice.request(direct(&slow, "warm up", None)).await);
    acked(&carol.request(direct(&fast, "warm up", None)).await);

    server.node().store.slow_down(Some((&slow, Duration::from_secs(2))));
    // Two membership changes of the slow conversation at once, from two clients.
    let began = Instant::now();
    let first = alice.send_request(conv_members(OpType::Add, &slow, &["dave"])).await;
    bob.send_request(conv_members(OpType::Add, &slow, &["erin"])).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..5 {
        let sent = Instant::now();
        acked(&carol.request(direct(&fast, &format!("still quick {n}"), None)).await);
        let took = sent.elapsed();
        assert!(took < UNAFFECTED, "send {n} to another conversation took {took:?}");
    }
    assert!(began.elapsed() < Duration::from_secs(2), "the sends did not wait for the slow store");
    // The slow changes complete, in order.
    let added = alice.reply_to(first).await;
    assert_eq!(added.op, Some(OpType::Added as i32), "{added:?}");
    assert!(began.elapsed() >= Duration::from_secs(2));
    server.node().store.slow_down(None);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_conversation_actor_restarts_from_the_store() {
    let server = TestServer::start_with(no_rate_limits);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let broken = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let other = started_cid(&bob.request(start_conv(&["alice"], false, "{}")).await);
    let (first, _) = acked(&alice.request(direct(&broken, "before", Some("dt-before"))).await);

    server.node().convs.set_fail_point(Some(&broken));
    // Requests in flight when it fails get an error, promptly, not silence.
    let mut asked = Vec::new();
    for n in 0..3 {
        asked.push(alice.send_request(direct(&broken, &format!("during {n}"), Some(&format!("dt-{n}")))).await);
    }
    for i in asked {
        assert_eq!(error_code(&alice.reply_to(i).await), 4200);
    }
    // Nobody else notices.
    let sent = Instant::now();
    acked(&bob.request(direct(&other, "unaffected", None)).await);
    assert!(sent.elapsed() < UNAFFECTED);
    assert_eq!(alice.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.unwrap(), "unaffected");

    server.node().convs.set_fail_point(None);
    // The next operation starts a new actor from the store: history and de-duplication hold.
    let (again, _) = acked(&alice.request(direct(&broken, "before", Some("dt-before"))).await);
    assert_eq!(again, first, "a resend is recognised by the restarted actor");
    acked(&alice.request(direct(&broken, "after", Some("dt-0"))).await);
    let history = alice.request(logs(&broken, |_| {})).await;
    assert_eq!(log_texts(&history), ["before", "after"], "nothing of the lost requests was stored");
    let pushed: Vec<String> =
        [bob.next_push_of(CommandType::Direct).await, bob.next_push_of(CommandType::Direct).await]
            .into_iter()
            .map(|p| p.direct_message.unwrap().msg.unwrap())
            .collect();
    assert_eq!(pushed, ["before", "after"]);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_session_actor_leaves_presence_and_the_socket_carries_on() {
    let server = TestServer::start_with(no_rate_limits);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let online = |peers: &[&str]| GenericCommand {
        session_message: Some(SessionCommand {
            session_peer_ids: peers.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Session, Some(OpType::Query))
    };
    assert_eq!(alice.request(online(&["bob"])).await.session_message.unwrap().online_session_peer_ids, ["bob"]);

    *server.node().session_fail_point.lock() = Some("bob".into());
    let i = bob.send_request(direct(&cid, "boom", None)).await;
    assert_eq!(error_code(&bob.reply_to(i).await), 4200, "the command it was handling is answered");
    *server.node().session_fail_point.lock() = None;
    // It left presence (no post_stop ran: the supervisor did it).
    eventually("bob is offline", || !server.node().presence.is_online("bob")).await;
    assert!(alice.request(online(&["bob"])).await.session_message.unwrap().online_session_peer_ids.is_empty());
    // The socket answers for the dead session with 4105, and a new login works on it.
    assert_eq!(error_code(&bob.request(direct(&cid, "hello?", None)).await), 4105);
    assert_eq!(bob.request(open("bob")).await.op, Some(OpType::Opened as i32));
    acked(&alice.request(direct(&cid, "welcome back", None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.unwrap(), "welcome back");
    server.stop().await;
}
