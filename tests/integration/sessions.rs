//! Login, logout, online status, keep-alive, timeouts, tokens, multiplexing.

use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

#[tokio::test]
async fn open_answers_opened_then_unread() {
    let server = TestServer::start();
    let mut alice = Client::connect(&server).await;
    let opened = alice.request(open("alice")).await;
    assert_eq!((opened.cmd, opened.op), (Some(CommandType::Session as i32), Some(OpType::Opened as i32)));
    assert_eq!(opened.peer_id.as_deref(), Some("alice"));
    assert!(opened.server_ts.unwrap() > 1_700_000_000_000);
    let session = opened.session_message.unwrap();
    assert!(session.st.as_deref().is_some_and(|st| st.len() >= 16));
    assert!(session.st_ttl.unwrap() > 0);
    let unread = alice.next_push().await;
    assert_eq!(unread.cmd, Some(CommandType::Unread as i32));
    assert_eq!(unread.service, Some(2));
    let unread = unread.unread_message.unwrap();
    assert!(unread.convs.is_empty());
    assert!(unread.notif_time.is_some());
    server.stop().await;
}

#[tokio::test]
async fn open_without_peer_id_is_an_anonymous_login() {
    let server = TestServer::start();
    let mut client = Client::connect(&server).await;
    let mut cmd = open("x");
    cmd.peer_id = None;
    let opened = client.request(cmd).await;
    let id = opened.peer_id.expect("the server picks an id");
    assert!(xinshi::ids::validate_client_id(&id).is_ok(), "{id}");
    server.stop().await;
}

#[tokio::test]
async fn invalid_client_ids_get_4103_and_the_socket_keeps_working() {
    let server = TestServer::start();
    let mut bystander = Client::login(&server, "bystander").await;
    let mut client = Client::connect(&server).await;
    for bad in ["has space", "colon:id", &"x".repeat(65)] {
        let reply = client.request(open(bad)).await;
        assert_eq!(error_code(&reply), 4103, "{bad:?}");
        assert_eq!(reply.error_message.unwrap().reason, "INVALID_LOGIN");
    }
    let reply = client.request(open("fine_after_all")).await;
    assert_eq!(reply.op, Some(OpType::Opened as i32));
    let echo = bystander.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_app_id_is_refused() {
    let server = TestServer::start();
    let mut client = Client::connect(&server).await;
    let mut cmd = open("alice");
    cmd.app_id = Some("someone-elses-app".into());
    assert_eq!(error_code(&client.request(cmd).await), 4100);
    server.stop().await;
}

#[tokio::test]
async fn commands_before_open_get_4105() {
    let server = TestServer::start();
    let mut client = Client::connect(&server).await;
    let reply = client.request(start_conv(&["bob"], true, "{}")).await;
    assert_eq!(error_code(&reply), 4105);
    assert_eq!(reply.error_message.unwrap().reason, "SESSION_REQUIRED");
    let reply = client.request(direct("5f0000000000000000000001", "hi", None)).await;
    assert_eq!(error_code(&reply), 4105);
    // echo needs no session
    let echo = client.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    server.stop().await;
}

#[tokio::test]
async fn close_ends_the_session() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut watcher = Client::login(&server, "watcher").await;
    let online = |ids: &[&str]| GenericCommand {
        session_message: Some(SessionCommand {
            session_peer_ids: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Session, Some(OpType::Query))
    };
    let reply = watcher.request(online(&["alice", "bob", "watcher"])).await;
    assert_eq!(reply.op, Some(OpType::QueryResult as i32));
    assert_eq!(reply.session_message.unwrap().online_session_peer_ids, vec!["alice", "watcher"]);

    let closed = alice.request(frame::command(CommandType::Session, Some(OpType::Close))).await;
    assert_eq!(closed.op, Some(OpType::Closed as i32));
    assert_eq!(closed.session_message.unwrap_or_default().code, None);
    assert_eq!(error_code(&alice.request(start_conv(&["bob"], true, "{}")).await), 4105);
    let reply = watcher.request(online(&["alice"])).await;
    assert!(reply.session_message.unwrap().online_session_peer_ids.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn websocket_pings_get_pongs() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url()).unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "lc.protobuf2.3".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
    server.stop().await;
}

#[tokio::test]
async fn a_socket_without_login_is_closed_with_4108() {
    let server = TestServer::start_with(|c| c.limits.login_timeout_secs = 1);
    let mut client = Client::connect(&server).await;
    assert_eq!(client.closed_code().await, Some(4108));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_with_4107() {
    let server = TestServer::start_with(|c| c.limits.read_timeout_secs = 1);
    let mut client = Client::login(&server, "sleepy").await;
    assert_eq!(client.closed_code().await, Some(4107));
    server.stop().await;
}

#[tokio::test]
async fn reconnect_presents_the_session_token() {
    let server = TestServer::start();
    let mut first = Client::connect(&server).await;
    let opened = first.request(open("alice")).await;
    let st = opened.session_message.unwrap().st.unwrap();
    first.close().await;

    let mut again = Client::connect(&server).await;
    let mut reopen = open("alice");
    let session = reopen.session_message.as_mut().unwrap();
    session.r = Some(true);
    session.st = Some(st.clone());
    let reply = again.request(reopen.clone()).await;
    assert_eq!(reply.op, Some(OpType::Opened as i32), "{reply:?}");

    let mut forged = reopen.clone();
    forged.session_message.as_mut().unwrap().st = Some("forged-token".into());
    let mut third = Client::connect(&server).await;
    assert_eq!(error_code(&third.request(forged).await), 4112);

    let mut stolen = reopen;
    stolen.peer_id = Some("mallory".into());
    assert_eq!(error_code(&third.request(stolen).await), 4112, "a token is bound to its client");
    server.stop().await;
}

#[tokio::test]
async fn several_clients_share_one_socket() {
    let server = TestServer::start();
    let mut socket = Client::connect(&server).await;
    assert_eq!(socket.request(open("alice")).await.op, Some(OpType::Opened as i32));
    socket.next_push_of(CommandType::Unread).await;
    let opened = socket.request(open("bob")).await;
    assert_eq!(opened.peer_id.as_deref(), Some("bob"));
    let unread = socket.next_push_of(CommandType::Unread).await;
    assert_eq!(unread.peer_id.as_deref(), Some("bob"), "pushes name their client on a shared socket");

    // Without peerId a command belongs to the first client (alice).
    let started = socket.request(start_conv(&["carol"], false, "{}")).await;
    let cid = started_cid(&started);
    let mut carol = Client::login(&server, "carol").await;
    let sent = carol.request(direct(&cid, "hi alice", None)).await;
    acked(&sent);
    let push = socket.next_push_of(CommandType::Direct).await;
    assert_eq!(push.peer_id.as_deref(), Some("alice"));

    // bob, named explicitly, is not a member of alice's conversation.
    let mut as_bob = direct(&cid, "not mine", None);
    as_bob.peer_id = Some("bob".into());
    assert_eq!(error_code(&socket.request(as_bob).await), 4401);

    // A client not logged in on this socket cannot be named.
    let mut as_carol = direct(&cid, "impostor", None);
    as_carol.peer_id = Some("carol".into());
    assert_eq!(error_code(&socket.request(as_carol).await), 4105);
    server.stop().await;
}

#[tokio::test]
async fn base64_text_frames_and_the_query_fallback_work() {
    let server = TestServer::start();
    let mut text = Client::connect_with(&server.ws_url(), Some("lc.proto2base64.3")).await.unwrap();
    assert_eq!(text.request(open("texty")).await.op, Some(OpType::Opened as i32));
    let url = format!("{}?subprotocol=lc.protobuf2.3", server.ws_url());
    let mut fallback = Client::connect_with(&url, None).await.unwrap();
    assert_eq!(fallback.request(open("wechat")).await.op, Some(OpType::Opened as i32));
    server.stop().await;
}

#[tokio::test]
async fn unsupported_subprotocols_are_refused_with_an_http_error() {
    let server = TestServer::start();
    for offered in [Some("lc.protobuf2.1"), Some("mqtt"), None] {
        match Client::connect_with(&server.ws_url(), offered).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{offered:?}");
                let body: serde_json::Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert!(body["error"].as_str().unwrap().contains("lc.protobuf2.3"), "{body}");
            }
            other => panic!("{offered:?} was not refused: {:?}", other.map(|_| ())),
        }
    }
    server.stop().await;
}
