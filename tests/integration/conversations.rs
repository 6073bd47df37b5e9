//! `conv/start` and `conv/query`.

use crate::client::*;
use xinshi::protocol::*;

#[tokio::test]
async fn start_creates_conversations_and_tells_the_members() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let reply = alice.request(start_conv(&["bob"], false, r#"{"name":"lunch","topic":"food"}"#)).await;
    let cid = started_cid(&reply);
    assert!(xinshi::ids::is_conversation_id(&cid), "{cid}");
    let conv = reply.conv_message.unwrap();
    assert!(conv.cdate.unwrap().ends_with('Z'));
    assert_eq!(conv.existing, None);

    let joined = bob.next_push_of(CommandType::Conv).await;
    assert_eq!(joined.op, Some(OpType::Joined as i32));
    let joined = joined.conv_message.unwrap();
    assert_eq!((joined.cid.as_deref(), joined.init_by.as_deref()), (Some(cid.as_str()), Some("alice")));

    let again = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    assert_ne!(again, cid, "without unique every start makes a new conversation");

    let found = results(&alice.request(query_convs(&format!(r#"{{"objectId":"{cid}"}}"#), |_| {})).await);
    assert_eq!(found.len(), 1);
    let doc = &found[0];
    assert_eq!(doc["objectId"], cid.as_str());
    assert_eq!(doc["name"], "lunch");
    assert_eq!(doc["topic"], "food");
    assert_eq!(doc["c"], "alice");
    assert_eq!(doc["m"], serde_json::json!(["alice", "bob"]));
    server.stop().await;
}

#[tokio::test]
async fn unique_start_returns_the_same_conversation() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let first = alice.request(start_conv(&["bob"], true, r#"{"name":"one"}"#)).await;
    let cid = started_cid(&first);
    assert!(first.conv_message.as_ref().unwrap().unique_id.is_some());
    let second = bob.request(start_conv(&["alice"], true, r#"{"name":"another name"}"#)).await;
    assert_eq!(started_cid(&second), cid);
    assert_eq!(second.conv_message.unwrap().existing, Some(true));
    let other = alice.request(start_conv(&["bob", "carol"], true, "{}")).await;
    assert_ne!(started_cid(&other), cid);
    server.stop().await;
}

#[tokio::test]
async fn racing_unique_creators_agree() {
    let server = TestServer::start();
    let mut clients = Vec::new();
    for name in ["r0", "r1", "r2", "r3", "r4", "r5"] {
        clients.push(Client::login(&server, name).await);
    }
    let members = ["r0", "r1", "r2", "r3", "r4", "r5"];
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move { started_cid(&client.request(start_conv(&members, true, "{}")).await) })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    server.stop().await;
}

#[tokio::test]
async fn member_cap_is_enforced() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let many: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let reply = alice.request(start_conv(&many, false, "{}")).await;
    assert_eq!(error_code(&reply), 4304, "500 others plus alice is 501");
    assert_eq!(reply.error_message.unwrap().reason, "CONVERSATION_FULL");
    let reply = alice.request(start_conv(&many[..499], false, "{}")).await;
    started_cid(&reply);
    assert_eq!(error_code(&alice.request(start_conv(&["bad id"], false, "{}")).await), 4103);
    server.stop().await;
}

#[tokio::test]
async fn query_lists_my_conversations_with_limit_sort_and_flags() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut cids = Vec::new();
    for (i, peer) in ["bob", "carol", "dave"].iter().enumerate() {
        let cid = started_cid(&alice.request(start_conv(&[peer], false, &format!(r#"{{"name":"c{i}"}}"#))).await);
        cids.push(cid);
    }
    let mut eve = Client::login(&server, "eve").await;
    started_cid(&eve.request(start_conv(&["frank"], false, "{}")).await);
    // Messages make c1 the most recent, then c0.
    acked(&alice.request(direct(&cids[0], "first", None)).await);
    acked(&alice.request(direct(&cids[1], "second", None)).await);

    let mine = results(&alice.request(query_convs("{}", |_| {})).await);
    let names: Vec<&str> = mine.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["c1", "c0", "c2"], "default: mine, newest message first");
    assert!(mine[0]["lm"]["iso"].is_string());

    let two = results(&alice.request(query_convs("{}", |c| c.limit = Some(2))).await);
    assert_eq!(two.len(), 2);
    let skipped = results(&alice.request(query_convs("{}", |c| c.skip = Some(2))).await);
    assert_eq!(skipped.len(), 1);
    assert!(results(&alice.request(query_convs("{}", |c| c.limit = Some(0))).await).is_empty());

    let by_name = results(&alice.request(query_convs(r#"{"m":"alice"}"#, |c| c.sort = Some("name".into()))).await);
    assert_eq!(by_name.iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["c0", "c1", "c2"]);

    let ids = serde_json::to_string(&cids[..2]).unwrap();
    let flagged =
        results(&alice.request(query_convs(&format!(r#"{{"objectId":{{"$in":{ids}}}}}"#), |c| c.flag = Some(3))).await);
    assert_eq!(flagged.len(), 2);
    for conv in &flagged {
        assert!(conv.get("m").is_none(), "compact leaves members out: {conv}");
        assert!(conv["msg"].is_string() && conv["msg_mid"].is_string() && conv["msg_from"] == "alice", "{conv}");
    }

    let regex = results(&alice.request(query_convs(r#"{"name":{"$regex":"^\\Qc\\E[12]$"}}"#, |_| {})).await);
    assert_eq!(regex.len(), 2);

    let bad = alice.request(query_convs(r#"{"name":{"$frobnicate":1}}"#, |_| {})).await;
    assert_eq!(error_code(&bad), 4310);
    assert_eq!(error_code(&alice.request(query_convs("not json", |_| {})).await), 4310);
    server.stop().await;
}
