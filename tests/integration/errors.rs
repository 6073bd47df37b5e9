//! Bad input: each gets its error, and nobody else is disturbed.

use crate::client::*;
use xinshi::protocol::frame;
use xinshi::protocol::*;

#[tokio::test]
async fn garbage_frames_get_4114_and_the_socket_keeps_working() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    for garbage in [vec![0xff, 0xff, 0xff, 0xff], vec![0x0a, 0x80], b"hello, world".to_vec()] {
        alice.send_bytes(garbage).await;
        let reply = alice.next_push_of(CommandType::Error).await;
        assert_eq!(reply.i, None);
        assert_eq!(error_code(&reply), 4114);
    }
    acked(&alice.request(direct(&cid, "still here", None)).await);
    assert_eq!(bob.next_push_of(CommandType::Direct).await.direct_message.unwrap().msg.as_deref(), Some("still here"));
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_unsupported_commands_are_answered() {
    let server = TestServer::start();
    let mut alice = Client::login(&server, "alice").await;
    let unknown = GenericCommand { cmd: Some(77), op: Some(99), ..Default::default() };
    let reply = alice.request(unknown).await;
    assert_eq!(error_code(&reply), 4114);
    // The legacy presence subscription (spec G21) is a known command xinshi does not serve.
    let presence = frame::command(CommandType::Presence, Some(OpType::Status));
    let reply = alice.request(presence).await;
    assert_eq!(error_code(&reply), 4114);
    assert!(reply.error_message.unwrap().detail.unwrap().contains("presence/status"));
    let echo = alice.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    server.stop().await;
}

#[tokio::test]
async fn oversized_frames_close_only_that_socket() {
    let server = TestServer::start_with(|c| c.limits.max_frame_bytes = 16 * 1024);
    let mut alice = Client::login(&server, "alice").await;
    let mut bob = Client::login(&server, "bob").await;
    alice.send_bytes(vec![0u8; 20 * 1024]).await;
    assert_eq!(alice.closed_code().await, Some(4109));
    let echo = bob.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    server.stop().await;
}

#[tokio::test]
async fn default_values_written_explicitly_are_accepted() {
    let server = TestServer::start();
    let mut client = Client::connect(&server).await;
    // cmd = 0 written as 08 00 and r = false as 28 00, as the JS encoder does.
    let mut cmd = open("explicit");
    cmd.cmd = Some(0);
    cmd.session_message.as_mut().unwrap().r = Some(false);
    cmd.i = Some(1);
    let bytes = prost::Message::encode_to_vec(&cmd);
    assert!(bytes.windows(2).any(|w| w == [0x08, 0x00]));
    client.send_bytes(bytes).await;
    let reply = client.recv().await.unwrap();
    assert_eq!((reply.i, reply.op), (Some(1), Some(OpType::Opened as i32)));
    server.stop().await;
}
