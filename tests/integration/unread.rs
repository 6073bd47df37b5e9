//! The `unread` summary after login, `read`, and `lastUnreadNotifTime`.

use crate::client::*;
use xinshi::protocol::*;

/// Logs in and returns the socket and its `unread` push.
async fn login_with_unread(server: &TestServer, client: &str, since: Option<i64>) -> (Client, UnreadCommand) {
    let mut socket = Client::connect(server).await;
    let mut cmd = open(client);
    cmd.session_message.as_mut().unwrap().last_unread_notif_time = since;
    let opened = socket.request(cmd).await;
    assert_eq!(opened.op, Some(OpType::Opened as i32));
    let unread = socket.next_push_of(CommandType::Unread).await;
    (socket, unread.unread_message.unwrap())
}

#[tokio::test]
async fn offline_members_see_unread_counts_after_login() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    let quiet = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    for n in 0..3 {
        acked(&alice.request(direct(&cid, &format!("n{n}"), None)).await);
    }
    let mut mention = direct(&cid, "@bob look", None);
    mention.direct_message.as_mut().unwrap().mention_pids = vec!["bob".into()];
    let (last_id, last_ts) = acked(&alice.request(mention).await);

    let (mut bob, unread) = login_with_unread(&server, "bob", None).await;
    assert_eq!(unread.convs.len(), 1, "only conversations with unread messages: {unread:?}");
    let tuple = &unread.convs[0];
    assert_eq!((tuple.cid.as_str(), tuple.unread), (cid.as_str(), 4));
    assert_eq!(tuple.mid.as_deref(), Some(last_id.as_str()));
    assert_eq!(tuple.timestamp, Some(last_ts));
    assert_eq!(tuple.from.as_deref(), Some("alice"));
    assert_eq!(tuple.data.as_deref(), Some("@bob look"));
    assert_eq!(tuple.mentioned, Some(true));
    assert!(!unread.convs.iter().any(|t| t.cid == quiet));

    let (_carol, unread) = login_with_unread(&server, "carol", None).await;
    assert_eq!((unread.convs[0].unread, unread.convs[0].mentioned), (4, Some(false)));
    let (_alice2, unread) = login_with_unread(&server, "alice", None).await;
    assert!(unread.convs.is_empty(), "the sender has read what it sent: {unread:?}");

    // Reading clears the count for the next login and tells the other devices.
    let (mut bob_pad, _) = login_with_unread(&server, "bob", None).await;
    bob.send(&read(&cid)).await;
    let update = bob_pad.next_push_of(CommandType::Unread).await.unread_message.unwrap();
    assert_eq!((update.convs[0].cid.as_str(), update.convs[0].unread), (cid.as_str(), 0));
    bob.expect_silence(200).await;
    let (_bob3, unread) = login_with_unread(&server, "bob", None).await;
    assert!(unread.convs.is_empty(), "{unread:?}");
    server.stop().await;
}

#[tokio::test]
async fn last_unread_notif_time_limits_the_summary_to_changes() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let first = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let second = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    acked(&alice.request(direct(&first, "old news", None)).await);
    let (bob, unread) = login_with_unread(&server, "bob", None).await;
    assert_eq!(unread.convs.len(), 1);
    let notif_time = unread.notif_time.unwrap();
    bob.close().await;

    let (bob, unread) = login_with_unread(&server, "bob", Some(notif_time)).await;
    assert!(unread.convs.is_empty(), "nothing changed since the last summary: {unread:?}");
    bob.close().await;

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    acked(&alice.request(direct(&second, "fresh", None)).await);
    let (_bob, unread) = login_with_unread(&server, "bob", Some(notif_time)).await;
    assert_eq!(unread.convs.iter().map(|t| (t.cid.clone(), t.unread)).collect::<Vec<_>>(), vec![(second, 1)]);
    server.stop().await;
}

#[tokio::test]
async fn the_summary_lists_at_most_50_conversations_newest_first() {
    let server = TestServer::start_with(no_rate_limits);
    let mut alice = Client::login(&server, "alice").await;
    let mut cids = Vec::new();
    for _ in 0..55 {
        let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
        acked(&alice.request(direct(&cid, "hi", None)).await);
        cids.push(cid);
    }
    let (_bob, unread) = login_with_unread(&server, "bob", None).await;
    assert_eq!(unread.convs.len(), 50);
    let listed: Vec<&str> = unread.convs.iter().map(|t| t.cid.as_str()).collect();
    let newest: Vec<&str> = cids.iter().rev().take(50).map(String::as_str).collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    let mut newest_sorted = newest.clone();
    newest_sorted.sort();
    assert_eq!(listed_sorted, newest_sorted);
    server.stop().await;
}
