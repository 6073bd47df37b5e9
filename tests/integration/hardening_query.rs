//! Issue 9: what one `conv/query` may cost and reveal. Point 1 (expensive queries do not
//! stall other sockets; over-budget ones get 4310), point 11 (non-members get no
//! last-message fields), point 6 (conv/query replies are paged by size, not closed).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

/// A `where` of `n` `$regex` tests on `name`, each `\w{reps}` plus a distinct literal.
fn regexes(n: usize, reps: usize) -> String {
    let tests: Vec<String> = (0..n).map(|i| format!(r#"{{"name":{{"$regex":"\\w{{{reps}}}x{i}"}}}}"#)).collect();
    format!(r#"{{"$or":[{}]}}"#, tests.join(","))
}

/// The detail of an `error` reply.
fn detail(reply: &GenericCommand) -> String {
    reply.error_message.as_ref().and_then(|e| e.detail.clone()).unwrap_or_default()
}

/// Echo round trips of `client` until `stop` is set.
fn measure_echoes(mut client: Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut rtts = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let echo = client.request(frame::command(CommandType::Echo, None)).await;
            assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
            rtts.push(sent.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        rtts
    })
}

#[tokio::test]
async fn hardening_query_budget_keeps_other_sockets_responsive() {
    // One HTTP worker: every socket shares the thread a query could stall.
    let server = TestServer::start_with(|c| c.server.workers = 1);
    let mut alice = Client::login(&server, "alice").await;
    let carol = Client::login(&server, "carol").await;
    let bob = Client::login(&server, "bob").await;
    for name in ["alpha", "beta"] {
        started_cid(&alice.request(start_conv(&["carol"], false, &format!(r#"{{"name":"{name}"}}"#))).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let echoes = measure_echoes(bob, stop.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Two clients, well inside their rate limit, each send queries at the regex bounds.
    let budget = server.config.query.budget();
    let near = regexes(budget.max_regexes, 4);
    let busy = |mut client: Client, near: String| {
        tokio::spawn(async move {
            for _ in 0..3 {
                let reply = client.request(query_convs(&near, |c| c.limit = Some(999))).await;
                assert_eq!(reply.op, Some(OpType::Results as i32), "at the bounds is allowed: {reply:?}");
            }
            client
        })
    };
    let (a, c) = (busy(alice, near.clone()), busy(carol, near));
    let (mut alice, _carol) = (a.await.unwrap(), c.await.unwrap());

    // Over budget: too many regexes (each small), a few that compile too big, and a flood
    // like the one of the report (1 400 in 52 KB), smaller so that it does not take
    // seconds and hundreds of megabytes on the code before the fix.
    let started = Instant::now();
    let mut refused = Vec::new();
    for (what, cond) in [
        ("too many regexes", regexes(budget.max_regexes + 50, 4)),
        ("regexes too big", regexes(40, 20)),
        ("a flood", regexes(200, 20)),
    ] {
        refused.push((what, alice.request(query_convs(&cond, |c| c.limit = Some(999))).await));
    }
    let refused_in = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut rtts = echoes.await.unwrap();
    rtts.sort();
    let pct = |p: f64| rtts[((rtts.len() - 1) as f64 * p) as usize];
    println!(
        "echo round trips while queries ran: n={} p50={:?} p99={:?} max={:?}; over-budget queries answered in {refused_in:?}",
        rtts.len(),
        pct(0.5),
        pct(0.99),
        rtts.last().unwrap()
    );
    for (what, reply) in &refused {
        assert_eq!(reply.cmd, Some(CommandType::Error as i32), "{what}: {reply:?}");
        assert_eq!(error_code(reply), 4310, "{what}: {reply:?}");
        assert!(detail(reply).contains("budget"), "{what}: {reply:?}");
    }
    assert!(rtts.len() >= 5, "the echo client kept going: {}", rtts.len());
    assert!(*rtts.last().unwrap() < Duration::from_millis(250), "max echo {:?}", rtts.last().unwrap());
    server.stop().await;
}

#[tokio::test]
async fn hardening_query_budget_caps_concurrent_queries() {
    let server = TestServer::start_with(|c| (c.query.max_concurrent, c.query.queue_wait_ms) = (2, 200));
    let mut alice = Client::login(&server, "alice").await;
    // Two queries are running (their permits are held here): a third waits its turn,
    // then fails; once a permit is back it runs.
    let held = server.node().queries.clone().acquire_many_owned(2).await.unwrap();
    let started = Instant::now();
    let reply = alice.request(query_convs("{}", |_| {})).await;
    assert_eq!(error_code(&reply), 4310, "{reply:?}");
    assert!(detail(&reply).contains("busy"), "{reply:?}");
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited first");
    drop(held);
    let reply = alice.request(query_convs("{}", |_| {})).await;
    assert_eq!(reply.op, Some(OpType::Results as i32), "{reply:?}");
    server.stop().await;
}

#[tokio::test]
async fn hardening_query_budget_bounds_conversations_scanned() {
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.query.max_scanned = 3;
    });
    let mut alice = Client::login(&server, "alice").await;
    let mut cids = Vec::new();
    for i in 0..4 {
        cids.push(started_cid(&alice.request(start_conv(&["bob"], false, &format!(r#"{{"n":{i}}}"#))).await));
    }
    let by_ids = |ids: &[String]| format!(r#"{{"objectId":{{"$in":{}}}}}"#, serde_json::to_string(ids).unwrap());
    assert_eq!(results(&alice.request(query_convs(&by_ids(&cids[..3]), |_| {})).await).len(), 3);
    // Four candidates, whichever way they are picked: by id, by member, mine, all.
    for cond in [by_ids(&cids), r#"{"m":"bob"}"#.into(), "{}".into(), r#"{"n":{"$gte":0}}"#.into()] {
        let reply = alice.request(query_convs(&cond, |_| {})).await;
        assert_eq!(error_code(&reply), 4310, "{cond}: {reply:?}");
        assert!(detail(&reply).contains("more than 3 conversations"), "{reply:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hardening_query_privacy_last_message_only_for_members() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut eve = Client::login(&server, "eve").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, r#"{"name":"private"}"#)).await);
    acked(&alice.request(direct(&cid, "the secret", None)).await);
    let by_id = format!(r#"{{"objectId":"{cid}"}}"#);
    let last_message = ["msg", "msg_from", "msg_mid", "msg_timestamp", "bin", "patch_timestamp", "mention_all"];

    let seen = results(&eve.request(query_convs(&by_id, |c| c.flag = Some(2))).await);
    assert_eq!(seen.len(), 1, "a non-member still finds the conversation");
    assert_eq!(seen[0]["name"], "private");
    for field in last_message {
        assert!(seen[0].get(field).is_none(), "a non-member gets no `{field}`: {}", seen[0]);
    }
    assert_eq!(error_code(&eve.request(logs(&cid, |_| {})).await), 4312, "as logs refuses");

    let mine = results(&alice.request(query_convs(&by_id, |c| c.flag = Some(2))).await);
    assert_eq!(mine[0]["msg"], "the secret");
    assert_eq!(mine[0]["msg_from"], "alice");
    assert!(mine[0]["msg_mid"].is_string() && mine[0]["msg_timestamp"].is_i64() && mine[0]["bin"] == false);
    server.stop().await;
}

#[tokio::test]
async fn hardening_query_reply_size_pages_instead_of_closing() {
    // A small outbound queue so that a few conversations with big attributes make a reply
    // bigger than it (as 70 of them would with the default 4 MiB queue).
    let queue = 256 * 1024;
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.limits.outbound_queue_bytes = queue;
    });
    let budget = queue / 2;
    let mut alice = Client::login(&server, "alice").await;
    let big = "x".repeat(50_000);
    let mut cids = Vec::new();
    for i in 0..8 {
        let attrs = format!(r#"{{"name":"big{i}","blob":"{big}"}}"#);
        cids.push(started_cid(&alice.request(start_conv(&["bob"], false, &attrs)).await));
    }
    let ids = serde_json::to_string(&cids).unwrap();
    let by_ids = format!(r#"{{"objectId":{{"$in":{ids}}}}}"#);

    // As the JS SDK asks: limit 999. The reply is a shorter page; the socket stays open.
    let mut seen = Vec::new();
    while seen.len() < cids.len() {
        let skip = seen.len() as i32;
        let reply = alice.request(query_convs(&by_ids, |c| (c.limit, c.skip) = (Some(999), Some(skip)))).await;
        let data = &reply.conv_message.as_ref().unwrap().results.as_ref().unwrap().data;
        assert!(data.len() <= budget, "the page is {} bytes; the budget is {budget}", data.len());
        let page = results(&reply);
        assert!(!page.is_empty() && page.len() < cids.len(), "a shorter page: {} rows", page.len());
        seen.extend(page.iter().map(|c| c["objectId"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    cids.sort();
    assert_eq!(seen, cids, "paging with skip returns every conversation once");
    let echo = alice.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32), "still connected");
    server.stop().await;

    // A row bigger than the reply budget alone still comes back, one per reply.
    let server = TestServer::start_with(|c| {
        no_rate_limits(c);
        c.query.max_reply_bytes = 1024;
    });
    let mut alice = Client::login(&server, "alice").await;
    for i in 0..3 {
        let attrs = format!(r#"{{"name":"big{i}","blob":"{}"}}"#, "y".repeat(5000));
        started_cid(&alice.request(start_conv(&["bob"], false, &attrs)).await);
    }
    let page = results(&alice.request(query_convs("{}", |c| c.limit = Some(999))).await);
    assert_eq!(page.len(), 1, "one oversized row per reply");
    server.stop().await;
}
