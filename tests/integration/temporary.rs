//! Temporary conversations (F-CONV-TEMP): `conv/start` with `tempConv`, using one,
//! `tempConvIds`, expiry (4323) and the sweep that deletes expired ones. Time is a
//! [`ManualClock`]: expiry is the node's clock, moved by hand.

use std::sync::Arc;
use std::time::Duration;

use xinshi::clock::ManualClock;
use xinshi::protocol::*;

use crate::client::*;

const T0: i64 = 1_795_641_565_000;

fn server_at(clock: &Arc<ManualClock>) -> TestServer {
    TestServer::start_with_clock(
        |c| {
            no_rate_limits(c);
            c.features.blacklist = true;
        },
        clock.clone(),
    )
}

fn start_temp(members: &[&str], ttl: Option<i32>) -> GenericCommand {
    let mut cmd = start_conv(members, false, "{}");
    let conv = cmd.conv_message.as_mut().unwrap();
    conv.temp_conv = Some(true);
    conv.temp_conv_ttl = ttl;
    cmd
}

/// `(cid, tempConvTTL, existing)` of a `started` reply.
fn started_temp(reply: &GenericCommand) -> (String, i32, bool) {
    let cid = started_cid(reply);
    let conv = reply.conv_message.as_ref().unwrap();
    assert!(cid.starts_with("_tmp:") && cid.len() == 27, "{cid}");
    assert!(conv.cdate.as_ref().unwrap().ends_with('Z'), "{reply:?}");
    assert_eq!(conv.unique_id, None, "{reply:?}");
    (cid, conv.temp_conv_ttl.expect("tempConvTTL"), conv.existing == Some(true))
}

fn temp_ids(ids: &[&str]) -> GenericCommand {
    query_convs("", |c| {
        c.where_ = None;
        c.temp_conv_ids = ids.iter().map(|id| id.to_string()).collect();
    })
}

/// `(code, reason, detail)` of an `error` reply.
fn error_of(reply: &GenericCommand) -> (i32, String, Option<String>) {
    error_code(reply);
    let err = reply.error_message.clone().unwrap();
    (err.code, err.reason, err.detail)
}

fn expired_error() -> (i32, String, Option<String>) {
    (4323, String::new(), None)
}

#[tokio::test]
async fn f_conv_temp_start_reuse_and_ttl() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;

    let (cid, ttl, existing) = started_temp(&alice.request(start_temp(&["bob"], None)).await);
    assert_eq!((ttl, existing), (86_400, false), "the default lifetime is a day");
    let joined = bob.next_push_of(CommandType::Conv).await;
    assert_eq!(joined.op, Some(OpType::Joined as i32));
    let joined = joined.conv_message.unwrap();
    assert_eq!((joined.cid.as_deref(), joined.init_by.as_deref()), (Some(cid.as_str()), Some("alice")));

    // The same members (whoever starts, whatever they ask) get the same conversation while
    // it lives; asking for less changes nothing, asking for more extends it (to the cap).
    let again = alice.request(start_temp(&["bob", "alice"], Some(10))).await;
    assert_eq!(started_temp(&again), (cid.clone(), 86_400, true));
    let longer = bob.request(start_temp(&["alice"], Some(i32::MAX))).await;
    assert_eq!(started_temp(&longer), (cid.clone(), 2_592_000, true), "capped at 30 days");
    clock.advance(1_500);
    let later = alice.request(start_temp(&["bob"], Some(0))).await;
    assert_eq!(started_temp(&later), (cid.clone(), 2_591_999, true), "the time left, rounded up");
    bob.expect_silence(100).await;

    // Another member set is another conversation; a normal unique one is apart.
    let (short, ttl, existing) = started_temp(&alice.request(start_temp(&["carol"], Some(1))).await);
    assert_eq!((ttl, existing), (1, false));
    assert_ne!(short, cid);
    let normal = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    assert!(xinshi::ids::is_conversation_id(&normal));

    // At most 10 members, the creator counted; valid ids only.
    let nine: Vec<String> = (1..=9).map(|n| format!("m{n}")).collect();
    let mut nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    started_temp(&alice.request(start_temp(&nine, None)).await);
    nine.push("m10");
    let (code, reason, detail) = error_of(&alice.request(start_temp(&nine, None)).await);
    assert_eq!((code, reason.as_str()), (4304, "CONVERSATION_FULL"));
    assert!(detail.unwrap().contains("11"));
    assert_eq!(error_code(&alice.request(start_temp(&["not valid"], None)).await), 4103);
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_messages_history_unread_and_receipts() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let (cid, _, _) = started_temp(&alice.request(start_temp(&["bob"], None)).await);
    bob.next_push_of(CommandType::Conv).await;

    let mut msg = direct(&cid, "hello", Some("dt-1"));
    msg.direct_message.as_mut().unwrap().r = Some(true);
    let (uid, t) = acked(&alice.request(msg).await);
    let push = bob.next_push_of(CommandType::Direct).await.direct_message.unwrap();
    assert_eq!((push.cid.as_deref(), push.msg.as_deref()), (Some(cid.as_str()), Some("hello")));
    let ack = GenericCommand {
        ack_message: Some(AckCommand {
            cid: Some(cid.clone()),
            mid: Some(uid.clone()),
            t: Some(t),
            ..Default::default()
        }),
        ..frame::command(CommandType::Ack, None)
    };
    bob.send(&ack).await;
    let rcp = alice.next_push_of(CommandType::Rcp).await.rcp_message.unwrap();
    assert_eq!((rcp.id.as_deref(), rcp.from.as_deref()), (Some(uid.as_str()), Some("bob")));
    bob.send(&read(&cid)).await;
    let rcp = alice.next_push_of(CommandType::Rcp).await.rcp_message.unwrap();
    assert_eq!(rcp.read, Some(true));

    acked(&bob.request(direct(&cid, "hi back", None)).await);
    alice.next_push_of(CommandType::Direct).await;
    assert_eq!(log_texts(&alice.request(logs(&cid, |_| {})).await), ["hello", "hi back"]);

    // Outsiders can neither send nor read.
    let mut carol = Client::login(&server, "carol").await;
    assert_eq!(error_code(&carol.request(direct(&cid, "let me in", None)).await), 4401);
    assert_eq!(error_code(&carol.request(logs(&cid, |_| {})).await), 4312);

    // Offline messages: the unread summary at login lists it as a temporary conversation.
    bob.close().await;
    acked(&alice.request(direct(&cid, "are you there?", None)).await);
    let mut bob = Client::connect(&server).await;
    bob.request(open("bob")).await;
    let unread = bob.next_push_of(CommandType::Unread).await.unread_message.unwrap();
    let tuple = unread.convs.iter().find(|t| t.cid == cid).expect("listed");
    assert_eq!((tuple.unread, tuple.conv_type, tuple.data.as_deref()), (1, Some(4), Some("are you there?")));
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_members_are_fixed() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let (cid, _, _) = started_temp(&alice.request(start_temp(&["bob"], None)).await);
    let refused = |reply: &GenericCommand| {
        let (code, reason, _) = error_of(reply);
        assert_eq!((code, reason.as_str()), (4314, "NORMAL_CONVERSATION_REQUIRED"), "{reply:?}");
    };
    refused(&alice.request(conv_members(OpType::Add, &cid, &["dave"])).await); // invite
    refused(&carol.request(conv_members(OpType::Add, &cid, &["carol"])).await); // join
    refused(&alice.request(conv_members(OpType::Remove, &cid, &["bob"])).await); // kick
    refused(&alice.request(conv_members(OpType::Remove, &cid, &["alice"])).await); // quit
    for op in [OpType::AddShutup, OpType::RemoveShutup, OpType::QueryShutup, OpType::CheckShutup] {
        refused(&alice.request(conv_members(op, &cid, &["bob"])).await);
    }
    for op in [OpType::Block, OpType::Unblock, OpType::Query, OpType::CheckBlock] {
        let cmd = GenericCommand {
            blacklist_message: Some(BlacklistCommand {
                src_cid: Some(cid.clone()),
                to_pids: vec!["bob".into()],
                ..Default::default()
            }),
            ..frame::command(CommandType::Blacklist, Some(op))
        };
        refused(&alice.request(cmd).await);
    }
    // Nothing changed: bob is still a member.
    let found = results(&carol.request(temp_ids(&[&cid])).await);
    assert_eq!(found[0]["m"], serde_json::json!(["alice", "bob"]));
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_found_by_id_never_by_where() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let (cid, _, _) = started_temp(&alice.request(start_temp(&["bob"], Some(3600))).await);
    let normal = started_cid(&alice.request(start_conv(&["bob"], false, r#"{"name":"normal"}"#)).await);
    clock.advance(1_000);
    let (_, t) = acked(&alice.request(direct(&cid, "hello", None)).await);

    let found = results(&alice.request(temp_ids(&[&cid])).await);
    assert_eq!(found.len(), 1, "{found:?}");
    let doc = &found[0];
    assert_eq!(doc["objectId"], cid.as_str());
    assert_eq!(
        (doc["temp"].as_bool(), doc["ttl"].as_i64(), doc["conv_type"].as_i64()),
        (Some(true), Some(3599), Some(4))
    );
    assert_eq!((doc["c"].as_str(), &doc["m"]), (Some("alice"), &serde_json::json!(["alice", "bob"])));
    assert!(doc["createdAt"].is_string() && doc["updatedAt"].is_string());
    assert_eq!(doc["lm"]["iso"], xinshi::clock::iso8601(t).as_str());
    assert!(doc.get("unique").is_none() && doc.get("uniqueId").is_none(), "{doc}");

    // Anyone may look it up by id; unknown, foreign and repeated ids are left out.
    let found = results(&carol.request(temp_ids(&[&cid, "_tmp:AAAAAAAAAAAAAAAAAAAAAA", &normal, &cid])).await);
    assert_eq!(found.iter().map(|d| d["objectId"].as_str().unwrap()).collect::<Vec<_>>(), [cid.as_str()]);
    let compact = alice.request(query_convs("", |c| {
        c.where_ = None;
        c.temp_conv_ids = vec![cid.clone()];
        c.flag = Some(3);
    }));
    let compact = results(&compact.await);
    assert!(compact[0].get("m").is_none() && compact[0]["msg"] == "hello", "{compact:?}");
    let many: Vec<String> = (0..101).map(|n| format!("_tmp:{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(error_code(&alice.request(temp_ids(&many)).await), 4310);

    // `where` queries never show it: mine, by id, by member, by a full scan.
    let only_normal = |docs: Vec<serde_json::Value>| {
        assert_eq!(docs.iter().map(|d| d["objectId"].as_str().unwrap()).collect::<Vec<_>>(), [normal.as_str()]);
        assert_eq!(docs[0]["conv_type"], 1);
    };
    only_normal(results(&alice.request(query_convs("{}", |_| {})).await));
    let by_ids = format!(r#"{{"objectId":{{"$in":["{cid}","{normal}"]}}}}"#);
    only_normal(results(&alice.request(query_convs(&by_ids, |_| {})).await));
    only_normal(results(&alice.request(query_convs(r#"{"m":"bob"}"#, |_| {})).await));
    only_normal(results(&alice.request(query_convs(r#"{"c":"alice"}"#, |_| {})).await));
    let by_id = format!(r#"{{"objectId":"{cid}"}}"#);
    assert!(results(&alice.request(query_convs(&by_id, |_| {})).await).is_empty());
    assert!(results(&alice.request(query_convs(r#"{"temp":true}"#, |_| {})).await).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_expires_and_is_swept() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let (cid, ttl, _) = started_temp(&alice.request(start_temp(&["bob"], Some(60))).await);
    assert_eq!(ttl, 60);
    bob.next_push_of(CommandType::Conv).await;
    acked(&alice.request(direct(&cid, "one", Some("dt-1"))).await);
    acked(&alice.request(direct(&cid, "two", None)).await);
    bob.next_push_of(CommandType::Direct).await;
    bob.next_push_of(CommandType::Direct).await;
    let store = &server.node().store;
    assert!(store.dedup_seq(&cid, "alice", "dt-1").unwrap().is_some());

    // Expired: sends, history and membership changes get 4323 with no reason.
    clock.advance(60_000);
    let sent = alice.request(direct(&cid, "too late", None)).await;
    assert_eq!(error_of(&sent), expired_error());
    assert_eq!(error_of(&bob.request(logs(&cid, |_| {})).await), expired_error());
    assert_eq!(error_of(&alice.request(conv_members(OpType::Add, &cid, &["carol"])).await), expired_error());
    // A receipt changes nothing (bob's later send is handled after it by the same actor).
    let cursor = store.cursor(&cid, "bob").unwrap();
    bob.send(&read(&cid)).await;
    assert_eq!(error_of(&bob.request(direct(&cid, "me too", None)).await), expired_error());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.cursor(&cid, "bob").unwrap(), cursor);
    // Looked up by id it is gone; the same members get a new one; the login summary skips it.
    assert!(results(&alice.request(temp_ids(&[&cid])).await).is_empty());
    let (fresh, _, existing) = started_temp(&alice.request(start_temp(&["bob"], None)).await);
    assert!(!existing && fresh != cid);
    let mut bob2 = Client::connect(&server).await;
    bob2.request(open("bob")).await;
    let unread = bob2.next_push_of(CommandType::Unread).await.unread_message.unwrap();
    assert!(unread.convs.iter().all(|t| t.cid != cid), "{unread:?}");
    // An id that never existed is "expired" too.
    let made_up = "_tmp:AAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(error_of(&alice.request(direct(made_up, "anyone?", None)).await), expired_error());
    assert_eq!(error_of(&alice.request(logs(made_up, |_| {})).await), expired_error());

    // The sweep waits out its grace, then deletes every row of it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(store.conversation(&cid).unwrap().is_some(), "not within the grace period");
    clock.advance(xinshi::node::TEMP_SWEEP_GRACE_MS + 1);
    eventually("the expired conversation is swept", || store.conversation(&cid).unwrap().is_none()).await;
    eventually("its expiry entry goes last", || store.expired_temp_conversations(i64::MAX, 10).unwrap().len() == 1)
        .await;
    assert!(store.messages(&cid).last().unwrap().is_none());
    assert_eq!(store.dedup_seq(&cid, "alice", "dt-1").unwrap(), None);
    assert_eq!(store.cursor(&cid, "alice").unwrap(), Default::default());
    assert_eq!(store.conversations_of("alice").unwrap(), vec![fresh.clone()]);
    assert_eq!(store.conversations_of("bob").unwrap(), vec![fresh.clone()]);
    // The running actor does not bring it back.
    assert_eq!(error_of(&alice.request(direct(&cid, "still?", None)).await), expired_error());
    assert_eq!(error_of(&alice.request(logs(&cid, |_| {})).await), expired_error());
    assert!(store.conversation(&cid).unwrap().is_none());
    // The new one lives on.
    acked(&alice.request(direct(&fresh, "new", None)).await);
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_an_extension_reaches_the_running_actor() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = server_at(&clock);
    let mut alice = Client::login(&server, "alice").await;
    let (cid, _, _) = started_temp(&alice.request(start_temp(&["bob"], Some(10))).await);
    // The conversation's actor loads the 10-second expiry with this message.
    acked(&alice.request(direct(&cid, "first", None)).await);
    assert_eq!(started_temp(&alice.request(start_temp(&["bob"], Some(100))).await), (cid.clone(), 100, true));
    clock.advance(20_000);
    acked(&alice.request(direct(&cid, "still on", None)).await);
    assert_eq!(log_texts(&alice.request(logs(&cid, |_| {})).await), ["first", "still on"]);
    clock.advance(80_000);
    assert_eq!(error_of(&alice.request(direct(&cid, "over", None)).await), expired_error());
    server.stop().await;
}

#[tokio::test]
async fn f_conv_temp_no_update_mute_or_roles_but_count_and_read_times() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(|c| c.features.member_roles = true, clock.clone());
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let (cid, _, _) = started_temp(&alice.request(start_temp(&["bob"], Some(60))).await);
    let op = |op: OpType, adjust: fn(&mut ConvCommand)| crate::update::conv_op(op, &cid, adjust);
    let fixed = [
        op(OpType::Update, |c| c.attr = Some(JsonObjectMessage { data: r#"{"name":"x"}"#.into() })),
        op(OpType::Mute, |_| {}),
        op(OpType::Unmute, |_| {}),
        op(OpType::MemberInfoUpdate, |c| {
            c.info =
                Some(ConvMemberInfo { pid: Some("bob".into()), role: Some("Manager".into()), ..Default::default() })
        }),
    ];
    for cmd in &fixed {
        let (code, reason, _) = error_of(&alice.request(cmd.clone()).await);
        assert_eq!((code, reason.as_str()), (4314, "NORMAL_CONVERSATION_REQUIRED"), "{cmd:?}");
    }
    assert_eq!(alice.request(op(OpType::Count, |_| {})).await.conv_message.unwrap().count, Some(2));
    let (mid, t) = acked(&alice.request(direct(&cid, "read me", None)).await);
    bob.next_push_of(CommandType::Direct).await;
    let read = GenericCommand {
        read_message: Some(ReadCommand {
            convs: vec![ReadTuple { cid: cid.clone(), mid: Some(mid), timestamp: Some(t) }],
            ..Default::default()
        }),
        ..frame::command(CommandType::Read, None)
    };
    bob.send(&read).await;
    let mut marks = None;
    for _ in 0..500 {
        marks = alice.request(op(OpType::MaxRead, |_| {})).await.conv_message.unwrap().max_read_timestamp;
        if marks.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(marks, Some(t));

    // Past its expiry every such command gets 4323.
    clock.advance(61_000);
    for cmd in fixed.iter().chain([&op(OpType::Count, |_| {}), &op(OpType::MaxRead, |_| {})]) {
        assert_eq!(error_of(&alice.request(cmd.clone()).await), expired_error(), "{cmd:?}");
    }
    server.stop().await;
}
