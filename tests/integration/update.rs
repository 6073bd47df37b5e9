//! `conv/update` (F-CONV-UPDATE) and `conv/mute` / `conv/unmute` (F-CONV-MUTE),
//! spec/leancloud-im.md §4.5, §4.6.

use serde_json::{Value, json};

use crate::client::*;
use xinshi::protocol::*;

pub fn conv_op(op: OpType, cid: &str, adjust: impl FnOnce(&mut ConvCommand)) -> GenericCommand {
    let mut conv = ConvCommand { cid: Some(cid.into()), ..Default::default() };
    adjust(&mut conv);
    GenericCommand { conv_message: Some(conv), ..frame::command(CommandType::Conv, Some(op)) }
}

fn update(cid: &str, patch: &str) -> GenericCommand {
    conv_op(OpType::Update, cid, |c| c.attr = Some(JsonObjectMessage { data: patch.into() }))
}

fn json_of(message: &Option<JsonObjectMessage>) -> Value {
    serde_json::from_str(&message.as_ref().expect("a JSON field").data).unwrap()
}

/// The conversation `cid` as `conv/query` shows it to `client`.
async fn fetch(client: &mut Client, cid: &str) -> Value {
    let found = results(&client.request(query_convs(&json!({ "objectId": cid }).to_string(), |_| {})).await);
    found.into_iter().next().expect("the conversation")
}

#[tokio::test]
async fn f_conv_update_merges_answers_and_tells_the_other_members() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut alice_pad = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let mut bob_pad = Client::login(&server, "bob").await;
    let mut carol = Client::login(&server, "carol").await;
    let attrs = r#"{"name":"old","attr":{"lean":"cloud"},"color":"red"}"#;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, attrs)).await);
    for device in [&mut bob, &mut bob_pad] {
        assert_eq!(device.next_push_of(CommandType::Conv).await.op, Some(OpType::Joined as i32));
    }
    let before = fetch(&mut alice, &cid).await["updatedAt"].clone();

    let patch = r##"{"name":"new","attr.lee":"yeh","color.text":"#333"}"##;
    let reply = alice.request(update(&cid, patch)).await;
    assert_eq!((reply.cmd, reply.op), (Some(CommandType::Conv as i32), Some(OpType::Updated as i32)), "{reply:?}");
    let answer = reply.conv_message.unwrap();
    let udate = answer.udate.clone().expect("udate");
    assert!(udate.ends_with('Z') && udate.len() == 24, "ISO-8601 udate: {udate}");
    assert_eq!(answer.cid.as_deref(), Some(cid.as_str()));
    assert_eq!(json_of(&answer.attr), serde_json::from_str::<Value>(patch).unwrap());
    assert_eq!(json_of(&answer.attr_modified), json!({"name": "new", "attr.lee": "yeh", "color.text": "#333"}));

    // Every device of the other member gets `updated`; the updater's devices and outsiders do not.
    for device in [&mut bob, &mut bob_pad] {
        let push = device.next_push_of(CommandType::Conv).await;
        assert_eq!((push.op, push.i, push.notification_type), (Some(OpType::Updated as i32), None, Some(1)));
        let pushed = push.conv_message.unwrap();
        assert_eq!((pushed.cid.as_deref(), pushed.init_by.as_deref()), (Some(cid.as_str()), Some("alice")));
        assert_eq!(pushed.udate.as_deref(), Some(udate.as_str()));
        assert_eq!(json_of(&pushed.attr), serde_json::from_str::<Value>(patch).unwrap());
        assert_eq!(json_of(&pushed.attr_modified)["color.text"], "#333");
    }
    alice_pad.expect_silence(200).await;
    carol.expect_silence(50).await;

    // Queries see the new values and the new updatedAt at once.
    let doc = fetch(&mut carol, &cid).await;
    assert_eq!(doc["name"], "new");
    assert_eq!(doc["attr"], json!({"lean": "cloud", "lee": "yeh"}));
    assert_eq!(doc["color"], json!({"text": "#333"}));
    assert_eq!(doc["updatedAt"], json!(udate));
    assert_ne!(doc["updatedAt"], before);
    assert_eq!(doc["m"], json!(["alice", "bob"]), "members are untouched");

    // A top-level key replaces its whole value; Delete removes a field.
    let reply = bob.request(update(&cid, r#"{"attr":{"only":1},"color":{"__op":"Delete"}}"#)).await;
    assert_eq!(json_of(&reply.conv_message.unwrap().attr_modified), json!({"attr": {"only": 1}, "color": null}));
    assert_eq!(alice.next_push_of(CommandType::Conv).await.op, Some(OpType::Updated as i32));
    let doc = fetch(&mut alice, &cid).await;
    assert_eq!(doc["attr"], json!({"only": 1}));
    assert!(doc.get("color").is_none(), "{doc}");
    assert_eq!(doc["name"], "new");
    server.stop().await;
}

#[tokio::test]
async fn f_conv_update_is_kept_for_members_who_were_offline() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, r#"{"name":"n"}"#)).await);
    let reply = alice.request(update(&cid, r#"{"name":"renamed"}"#)).await;
    let udate = reply.conv_message.unwrap().udate.unwrap();

    let mut bob = Client::connect(&server).await;
    let st = bob.request(open("bob")).await.session_message.unwrap().st.unwrap();
    let path = "/1.1/rtm/notifications?client_id=bob&start_ts=0&notification_type=permanent";
    let key = server.config.app.key.clone();
    let auth = [("X-LC-Id", APP_ID), ("X-LC-Key", key.as_str()), ("X-LC-IM-Session-Token", st.as_str())];
    let (status, body) = http(&server, "GET", path, &auth, None).await;
    assert_eq!(status, 200, "{body}");
    let kept = body["notifications"].as_array().unwrap();
    let updated = kept.iter().find(|n| n["op"] == "updated").expect("the update is kept");
    assert_eq!((updated["cmd"].as_str(), updated["cid"].as_str()), (Some("conv"), Some(cid.as_str())));
    assert_eq!((updated["initBy"].as_str(), updated["udate"].as_str()), (Some("alice"), Some(udate.as_str())));
    // The SDK rebuilds `convMessage` from these fields, so `attr` keeps its `{data}` shape.
    assert_eq!(
        serde_json::from_str::<Value>(updated["attr"]["data"].as_str().unwrap()).unwrap(),
        json!({"name": "renamed"})
    );
    assert_eq!(updated["notificationType"], 1);
    server.stop().await;
}

#[tokio::test]
async fn f_conv_update_refusals() {
    let server = TestServer::start_with(|c| c.limits.max_attr_bytes = 200);
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, r#"{"name":"n"}"#)).await);
    let unknown = "5f00000000000000000000ff";
    let refused = alice.request(update(unknown, r#"{"name":"x"}"#)).await;
    assert_eq!(error_code(&refused), 4303);
    assert_eq!(refused.error_message.unwrap().reason, "CONVERSATION_NOT_FOUND");
    let refused = carol.request(update(&cid, r#"{"name":"mine now"}"#)).await;
    assert_eq!(error_code(&refused), 4309);
    assert_eq!(refused.error_message.unwrap().reason, "CONVERSATION_UPDATE_REJECTED");
    for bad in [r#"{"m":["alice","carol"]}"#, r#"{"c":"carol"}"#, r#"{"updatedAt":"x"}"#, r#"["name"]"#, "not json"] {
        let refused = alice.request(update(&cid, bad)).await;
        assert_eq!(error_code(&refused), 4306, "{bad}");
        assert_eq!(refused.error_message.unwrap().reason, "CONVERSATION_UPDATE_FAILED");
    }
    let big = json!({ "bio": "x".repeat(300) }).to_string();
    assert_eq!(error_code(&alice.request(update(&cid, &big)).await), 4306, "past max_attr_bytes");
    let doc = fetch(&mut alice, &cid).await;
    assert_eq!((doc["name"].as_str(), doc["m"].clone()), (Some("n"), json!(["alice", "bob"])), "nothing changed");
    server.stop().await;
}

#[tokio::test]
async fn f_conv_mute_keeps_the_callers_entry_in_mu() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let mut carol = Client::login(&server, "carol").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    bob.next_push_of(CommandType::Conv).await;

    let reply = bob.request(conv_op(OpType::Mute, &cid, |_| {})).await;
    assert_eq!(reply.op, Some(OpType::Updated as i32), "{reply:?}");
    let udate = reply.conv_message.unwrap().udate.expect("udate");
    let doc = fetch(&mut alice, &cid).await;
    assert_eq!((doc["mu"].clone(), doc["updatedAt"].clone()), (json!(["bob"]), json!(udate)));
    // Muting twice changes nothing; the other member is not told.
    assert_eq!(bob.request(conv_op(OpType::Mute, &cid, |_| {})).await.op, Some(OpType::Updated as i32));
    assert_eq!(alice.request(conv_op(OpType::Mute, &cid, |_| {})).await.op, Some(OpType::Updated as i32));
    assert_eq!(fetch(&mut carol, &cid).await["mu"], json!(["alice", "bob"]));
    alice.expect_silence(100).await;

    assert_eq!(bob.request(conv_op(OpType::Unmute, &cid, |_| {})).await.op, Some(OpType::Updated as i32));
    assert_eq!(fetch(&mut alice, &cid).await["mu"], json!(["alice"]));
    assert_eq!(error_code(&carol.request(conv_op(OpType::Mute, &cid, |_| {})).await), 4309);
    assert_eq!(error_code(&carol.request(conv_op(OpType::Unmute, "5f00000000000000000000ff", |_| {})).await), 4303);
    server.stop().await;
}
