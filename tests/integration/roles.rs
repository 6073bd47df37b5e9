//! Member roles (F-ROLE, F-ROLE-INFO), spec/leancloud-im.md §6.1, §6.4.

use serde_json::{Value, json};

use crate::client::*;
use crate::update::conv_op;
use xinshi::config::Config;
use xinshi::protocol::*;

fn roles_on(config: &mut Config) {
    config.features.member_roles = true;
    config.features.blacklist = true;
}

fn set_role(cid: &str, target: &str, role: &str) -> GenericCommand {
    conv_op(OpType::MemberInfoUpdate, cid, |c| {
        c.target_client_id = Some(target.into());
        c.info = Some(ConvMemberInfo { pid: Some(target.into()), role: Some(role.into()), ..Default::default() });
    })
}

fn failures(reply: &GenericCommand) -> Vec<(i32, Vec<String>)> {
    let conv = reply.conv_message.as_ref().unwrap_or_else(|| panic!("{reply:?}"));
    conv.failed_pids.iter().map(|f| (f.code, f.pids.clone())).collect()
}

fn reason(reply: &GenericCommand) -> String {
    reply.error_message.as_ref().unwrap().reason.clone()
}

/// alice (Owner) with bob, carol and dave, all logged in; the `joined` pushes consumed.
async fn club(server: &TestServer) -> (String, [Client; 4]) {
    let mut alice = Client::login(server, "alice").await;
    let mut others =
        [Client::login(server, "bob").await, Client::login(server, "carol").await, Client::login(server, "dave").await];
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol", "dave"], false, "{}")).await);
    for other in &mut others {
        assert_eq!(other.next_push_of(CommandType::Conv).await.op, Some(OpType::Joined as i32));
    }
    let [bob, carol, dave] = others;
    (cid, [alice, bob, carol, dave])
}

#[tokio::test]
async fn f_role_is_off_by_default() {
    let server = TestServer::start();
    let (cid, [mut alice, mut bob, ..]) = club(&server).await;
    let refused = alice.request(set_role(&cid, "bob", "Manager")).await;
    assert_eq!(error_code(&refused), 4325);
    assert_eq!(reason(&refused), "CONVERSATION_MEMBER_INFO_FEATURE_DISABLED");
    // Without roles any member invites, kicks and mutes, as before.
    assert_eq!(
        bob.request(conv_members(OpType::Add, &cid, &["erin"])).await.conv_message.unwrap().allowed_pids,
        ["erin"]
    );
    assert_eq!(
        bob.request(conv_members(OpType::AddShutup, &cid, &["carol"])).await.op,
        Some(OpType::ShutupAdded as i32)
    );
    let removed = bob.request(conv_members(OpType::Remove, &cid, &["erin"])).await;
    assert_eq!(removed.conv_message.unwrap().allowed_pids, ["erin"]);
    server.stop().await;
}

#[tokio::test]
async fn f_role_changes_follow_rank() {
    let server = TestServer::start_with(roles_on);
    let (cid, [mut alice, mut bob, mut carol, mut dave]) = club(&server).await;

    let refused = bob.request(set_role(&cid, "bob", "Manager")).await;
    assert_eq!((error_code(&refused), reason(&refused)), (4320, "CONVERSATION_OPERATION_UNAUTHORIZED".into()));

    let reply = alice.request(set_role(&cid, "bob", "Manager")).await;
    assert_eq!(reply.op, Some(OpType::MemberInfoUpdated as i32), "{reply:?}");
    let info = reply.conv_message.unwrap().info.unwrap();
    assert_eq!((info.pid.as_deref(), info.role.as_deref()), (Some("bob"), Some("Manager")));
    // Every member hears of it (the target, the others, and the Owner itself).
    for member in [&mut bob, &mut carol, &mut dave, &mut alice] {
        let push = member.next_push_of(CommandType::Conv).await;
        assert_eq!(push.op, Some(OpType::MemberInfoChanged as i32));
        let conv = push.conv_message.unwrap();
        assert_eq!((conv.cid.as_deref(), conv.init_by.as_deref()), (Some(cid.as_str()), Some("alice")));
        let info = conv.info.unwrap();
        assert_eq!((info.pid.as_deref(), info.role.as_deref()), (Some("bob"), Some("Manager")));
    }

    let refusals = [
        ("alice", set_role(&cid, "carol", "Boss"), 4321),
        ("alice", set_role(&cid, "alice", "Manager"), 4324),
        ("bob", set_role(&cid, "alice", "Member"), 4320),
        ("bob", set_role(&cid, "dave", "Owner"), 4320),
        ("alice", set_role(&cid, "dave", "Owner"), 4320),
        ("alice", set_role(&cid, "erin", "Manager"), 4317),
        ("alice", set_role("5f00000000000000000000ff", "bob", "Member"), 4303),
    ];
    for (who, cmd, code) in refusals {
        let client = if who == "alice" { &mut alice } else { &mut bob };
        assert_eq!(error_code(&client.request(cmd.clone()).await), code, "{who}: {cmd:?}");
    }
    let mut erin = Client::login(&server, "erin").await;
    assert_eq!(error_code(&erin.request(set_role(&cid, "carol", "Manager")).await), 4309);

    // A Manager may make Managers, but not unmake one.
    assert_eq!(bob.request(set_role(&cid, "carol", "Manager")).await.op, Some(OpType::MemberInfoUpdated as i32));
    assert_eq!(error_code(&bob.request(set_role(&cid, "carol", "Member")).await), 4320);
    assert_eq!(alice.request(set_role(&cid, "carol", "Member")).await.op, Some(OpType::MemberInfoUpdated as i32));
    server.stop().await;
}

#[tokio::test]
async fn f_role_gates_member_changes_mutes_and_blocks() {
    let server = TestServer::start_with(roles_on);
    let (cid, [mut alice, mut bob, mut carol, _dave]) = club(&server).await;
    alice.request(set_role(&cid, "bob", "Manager")).await;
    alice.request(set_role(&cid, "dave", "Manager")).await;

    // A Member may not invite, kick, mute or block; it may still quit.
    for cmd in [
        conv_members(OpType::Add, &cid, &["erin"]),
        conv_members(OpType::Remove, &cid, &["dave"]),
        conv_members(OpType::AddShutup, &cid, &["dave"]),
    ] {
        assert_eq!(error_code(&carol.request(cmd.clone()).await), 4320, "{cmd:?}");
    }
    let block = |targets: &[&str]| GenericCommand {
        blacklist_message: Some(BlacklistCommand {
            src_cid: Some(cid.clone()),
            to_pids: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Blacklist, Some(OpType::Block))
    };
    assert_eq!(error_code(&carol.request(block(&["dave"])).await), 4320);

    // A Manager acts on Members only; the Owner cannot be removed or blocked.
    let added = bob.request(conv_members(OpType::Add, &cid, &["erin"])).await;
    assert_eq!(added.conv_message.unwrap().allowed_pids, ["erin"]);
    let removed = bob.request(conv_members(OpType::Remove, &cid, &["erin", "dave", "alice"])).await;
    assert_eq!(removed.conv_message.as_ref().unwrap().allowed_pids, ["erin"]);
    assert_eq!(failures(&removed), [(4320, vec!["dave".to_string()]), (4324, vec!["alice".to_string()])]);
    let blocked = bob.request(block(&["dave", "alice"])).await;
    let failed: Vec<(i32, Vec<String>)> =
        blocked.blacklist_message.unwrap().failed_pids.iter().map(|f| (f.code, f.pids.clone())).collect();
    assert_eq!(failed, [(4320, vec!["dave".to_string()]), (4324, vec!["alice".to_string()])]);

    // The Owner mutes a Manager; a muted Manager cannot unmute itself, nor may a Member.
    let muted = alice.request(conv_members(OpType::AddShutup, &cid, &["bob"])).await;
    assert_eq!(muted.conv_message.unwrap().allowed_pids, ["bob"]);
    assert_eq!(error_code(&bob.request(conv_members(OpType::RemoveShutup, &cid, &["bob"])).await), 4320);
    assert_eq!(error_code(&carol.request(conv_members(OpType::RemoveShutup, &cid, &["bob"])).await), 4320);
    let unmuted = alice.request(conv_members(OpType::RemoveShutup, &cid, &["bob"])).await;
    assert_eq!(unmuted.conv_message.unwrap().allowed_pids, ["bob"]);

    // Joining and quitting stay open; the Owner may not quit; a Manager that quits loses the role.
    let quit = bob.request(conv_members(OpType::Remove, &cid, &["bob"])).await;
    assert_eq!(quit.conv_message.unwrap().allowed_pids, ["bob"]);
    let rejoined = bob.request(conv_members(OpType::Add, &cid, &["bob"])).await;
    assert_eq!(rejoined.conv_message.unwrap().allowed_pids, ["bob"]);
    assert_eq!(error_code(&bob.request(conv_members(OpType::Add, &cid, &["frank"])).await), 4320, "a Member again");
    let owner_quits = alice.request(conv_members(OpType::Remove, &cid, &["alice"])).await;
    assert_eq!(failures(&owner_quits), [(4324, vec!["alice".to_string()])]);
    server.stop().await;
}

#[tokio::test]
async fn f_role_info_over_rest_for_members_only() {
    let server = TestServer::start_with(roles_on);
    let (cid, [mut alice, ..]) = club(&server).await;
    alice.request(set_role(&cid, "dave", "Manager")).await;
    let mut carol = Client::connect(&server).await;
    let st = carol.request(open("carol")).await.session_message.unwrap().st.unwrap();
    let mut erin = Client::connect(&server).await;
    let erin_st = erin.request(open("erin")).await.session_message.unwrap().st.unwrap();

    let key = server.config.app.key.clone();
    let get = |token: String, client: &'static str, cond: Value| {
        let path =
            format!("/1.1/classes/_ConversationMemberInfo?client_id={client}&where={}", urlencode(&cond.to_string()));
        let key = key.clone();
        let server = &server;
        async move {
            let auth = [("X-LC-Id", APP_ID), ("X-LC-Key", key.as_str()), ("X-LC-IM-Session-Token", token.as_str())];
            http(server, "GET", &path, &auth, None).await
        }
    };
    let (status, body) = get(st.clone(), "carol", json!({ "cid": cid })).await;
    assert_eq!(status, 200, "{body}");
    let rows: Vec<(String, String)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["clientId"].as_str().unwrap().into(), r["role"].as_str().unwrap().into()))
        .collect();
    assert_eq!(rows, [("alice".into(), "Owner".into()), ("dave".into(), "Manager".into())]);
    let row = &body["results"][1];
    assert_eq!((row["cid"].as_str(), row["objectId"].as_str().map(str::len)), (Some(cid.as_str()), Some(24)));

    let (_, body) = get(st.clone(), "carol", json!({ "cid": cid, "clientId": "dave" })).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    let (status, body) = get(erin_st, "erin", json!({ "cid": cid })).await;
    assert_eq!((status, body["code"].as_i64()), (403, Some(4317)), "not a member");
    let (status, _) = get("forged".into(), "carol", json!({ "cid": cid })).await;
    assert_eq!(status, 401);
    let (status, _) = get(st.clone(), "dave", json!({ "cid": cid })).await;
    assert_eq!(status, 401, "a token answers for its own client only");

    // A Manager removed from the conversation has no row any more.
    alice.request(conv_members(OpType::Remove, &cid, &["dave"])).await;
    let (_, body) = get(st, "carol", json!({ "cid": cid })).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1, "{body}");
    server.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
