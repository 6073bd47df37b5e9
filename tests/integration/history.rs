//! `logs`: every parameter, paging, type filter, access.

use crate::client::*;
use xinshi::protocol::*;

/// alice and bob with `n` messages "m0".."m{n-1}" (every third one typed as an image).
async fn conversation_with(server: &TestServer, n: usize) -> (Client, String, Vec<(String, i64)>) {
    let mut alice = Client::login(server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    let mut sent = Vec::new();
    for i in 0..n {
        let text = if i % 3 == 2 { format!(r#"{{"_lctype":-2,"_lctext":"m{i}"}}"#) } else { format!("m{i}") };
        sent.push(acked(&alice.request(direct(&cid, &text, None)).await));
    }
    (alice, cid, sent)
}

fn ids(reply: &GenericCommand) -> Vec<String> {
    reply.logs_message.as_ref().unwrap().logs.iter().map(|l| l.msg_id.clone().unwrap()).collect()
}

fn expected(sent: &[(String, i64)], range: std::ops::Range<usize>) -> Vec<String> {
    sent[range].iter().map(|(id, _)| id.clone()).collect()
}

#[tokio::test]
async fn latest_page_comes_oldest_first_and_pages_backwards() {
    let server = TestServer::start();
    let (mut alice, cid, sent) = conversation_with(&server, 45).await;
    let page1 = alice.request(logs(&cid, |_| {})).await;
    assert_eq!(ids(&page1), expected(&sent, 25..45), "default limit 20, ascending");
    let first = &page1.logs_message.as_ref().unwrap().logs[0];
    assert_eq!((first.from.as_deref(), first.timestamp), (Some("alice"), Some(sent[25].1)));

    // The SDK's next page starts at the oldest message it has.
    let page2 = alice
        .request(logs(&cid, |q| {
            q.t = Some(sent[25].1);
            q.mid = Some(sent[25].0.clone());
            q.l = Some(20);
        }))
        .await;
    assert_eq!(ids(&page2), expected(&sent, 5..25));
    let page3 = alice
        .request(logs(&cid, |q| {
            q.t = Some(sent[5].1);
            q.mid = Some(sent[5].0.clone());
            q.l = Some(20);
        }))
        .await;
    assert_eq!(ids(&page3), expected(&sent, 0..5));
    let inclusive = alice
        .request(logs(&cid, |q| {
            q.t = Some(sent[5].1);
            q.mid = Some(sent[5].0.clone());
            q.t_included = Some(true);
            q.l = Some(2);
        }))
        .await;
    assert_eq!(ids(&inclusive), expected(&sent, 4..6));
    server.stop().await;
}

#[tokio::test]
async fn limits_directions_and_end_points() {
    let server = TestServer::start_with(no_rate_limits);
    let (mut alice, cid, sent) = conversation_with(&server, 120).await;
    assert_eq!(ids(&alice.request(logs(&cid, |q| q.l = Some(500))).await).len(), 100, "at most 100");
    assert_eq!(ids(&alice.request(logs(&cid, |q| q.limit = Some(7))).await), expected(&sent, 113..120));
    assert!(ids(&alice.request(logs(&cid, |q| q.l = Some(0))).await).is_empty());

    // Oldest to newest from a start point.
    let forward = alice
        .request(logs(&cid, |q| {
            q.t = Some(sent[10].1);
            q.mid = Some(sent[10].0.clone());
            q.direction = Some(QueryDirection::New as i32);
            q.l = Some(3);
        }))
        .await;
    assert_eq!(ids(&forward), expected(&sent, 11..14));

    // Between two messages, both ends exclusive, then both inclusive.
    let between = |incl: bool| {
        let (start, end) = (sent[50].clone(), sent[40].clone());
        logs(&cid, move |q| {
            q.t = Some(start.1);
            q.mid = Some(start.0);
            q.tt = Some(end.1);
            q.tmid = Some(end.0);
            q.t_included = Some(incl);
            q.tt_included = Some(incl);
            q.l = Some(100);
        })
    };
    assert_eq!(ids(&alice.request(between(false)).await), expected(&sent, 41..50));
    assert_eq!(ids(&alice.request(between(true)).await), expected(&sent, 40..51));

    // Walking forward from the very beginning.
    let from_start = alice
        .request(logs(&cid, |q| {
            q.direction = Some(QueryDirection::New as i32);
            q.l = Some(4);
        }))
        .await;
    assert_eq!(ids(&from_start), expected(&sent, 0..4));
    server.stop().await;
}

#[tokio::test]
async fn time_only_anchors_and_the_type_filter() {
    let server = TestServer::start();
    let (mut alice, cid, sent) = conversation_with(&server, 30).await;
    // Timestamps can repeat; a time anchor excludes every message at that time.
    let t = sent[20].1;
    let before = alice
        .request(logs(&cid, |q| {
            q.t = Some(t);
            q.l = Some(100);
        }))
        .await;
    let got = ids(&before);
    let want: Vec<String> = sent.iter().filter(|(_, ts)| *ts < t).map(|(id, _)| id.clone()).collect();
    assert_eq!(got, want);

    let images = alice
        .request(logs(&cid, |q| {
            q.lctype = Some(-2);
            q.l = Some(4);
        }))
        .await;
    let want: Vec<String> = (0..30).filter(|i| i % 3 == 2).map(|i| sent[i].0.clone()).collect();
    assert_eq!(ids(&images), want[want.len() - 4..].to_vec());
    server.stop().await;
}

#[tokio::test]
async fn only_members_read_history() {
    let server = TestServer::start();
    let (_alice, cid, _) = conversation_with(&server, 2).await;
    let mut bob = Client::login(&server, "bob").await;
    assert_eq!(log_texts(&bob.request(logs(&cid, |_| {})).await), vec!["m0", "m1"]);
    let mut mallory = Client::login(&server, "mallory").await;
    let reply = mallory.request(logs(&cid, |_| {})).await;
    assert_eq!(error_code(&reply), 4312);
    assert_eq!(reply.error_message.unwrap().reason, "CONVERSATION_LOG_REJECTED");
    assert_eq!(error_code(&mallory.request(logs("5f00000000000000000000ff", |_| {})).await), 4303);
    server.stop().await;
}
