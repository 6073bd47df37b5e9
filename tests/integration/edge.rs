//! HTTP: server discovery and errors.

use crate::client::*;
use xinshi::protocol::{CommandType, OpType};

async fn get(server: &TestServer, path: &str) -> (u16, serde_json::Value) {
    http(server, "GET", path, &[], None).await
}

async fn get_with(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    http(server, "GET", path, headers, None).await
}

#[tokio::test]
async fn the_rtm_router_points_at_this_server() {
    let server = TestServer::start();
    let (status, body) = get(&server, &format!("/v1/route?appId={APP_ID}&secure=false&_t=1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["server"], server.ws_url());
    assert_eq!(body["secondary"], server.ws_url());
    assert!(body["ttl"].as_u64().unwrap() > 0);
    let (status, body) = get(&server, &format!("/2/route?appId={APP_ID}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["rtm_router_server"], server.http_url().trim_start_matches("http://"));
    let (status, body) = get(&server, "/v1/route?appId=another-app").await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(4100)));
    let (status, body) = get(&server, "/no/such/path").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn missed_conversation_events_are_replayed_over_rest() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut carol = Client::login(&server, "carol").await;
    let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
    // An online member gets the event as a push marked "permanent".
    let joined = carol.next_push_of(CommandType::Conv).await;
    assert_eq!((joined.op, joined.notification_type), (Some(OpType::Joined as i32), Some(1)));
    let since = joined.server_ts.unwrap() - 1;

    // bob was offline; after logging in he fetches what he missed with his session token.
    let mut bob = Client::connect(&server).await;
    let st = bob.request(open("bob")).await.session_message.unwrap().st.unwrap();
    let path = format!("/1.1/rtm/notifications?client_id=bob&start_ts={since}&notification_type=permanent");
    let auth =
        [("X-LC-Id", APP_ID), ("X-LC-Key", server.config.app.key.as_str()), ("X-LC-IM-Session-Token", st.as_str())];
    let (status, body) = get_with(&server, &path, &auth).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hasMore"], false);
    let list = body["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!((list[0]["cmd"].as_str(), list[0]["op"].as_str()), (Some("conv"), Some("joined")));
    assert_eq!((list[0]["cid"].as_str(), list[0]["initBy"].as_str()), (Some(cid.as_str()), Some("alice")));
    assert_eq!(list[0]["notificationType"], 1);

    let later = format!("/1.1/rtm/notifications?client_id=bob&start_ts={}", list[0]["serverTs"]);
    let (_, body) = get_with(&server, &later, &auth).await;
    assert_eq!(body["permanent"]["notifications"], serde_json::json!([]), "{body}");

    let (status, body) = get_with(&server, &path, &[auth[0], auth[1], ("X-LC-IM-Session-Token", "forged")]).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(4112)));
    let (status, _) = get_with(&server, &path, &[auth[0], ("X-LC-Key", "wrong"), auth[2]]).await;
    assert_eq!(status, 401);
    server.stop().await;
}
