//! HTTP: server discovery and errors.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::*;

/// A minimal HTTP/1.1 GET; returns the status and the JSON body.
async fn get(server: &TestServer, path: &str) -> (u16, serde_json::Value) {
    let host = server.http_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
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
    assert_eq!(
        body["rtm_router_server"],
        server.http_url().trim_start_matches("http://")
    );
    let (status, body) = get(&server, "/v1/route?appId=another-app").await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(4100)));
    let (status, body) = get(&server, "/no/such/path").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    server.stop().await;
}
