//! TLS: `wss://` and `https://` beside the plain listener, from the PEM files in
//! tests/fixtures/tls (a self-signed certificate for 127.0.0.1, made for these tests only).

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::*;
use xinshi::config::Config;
use xinshi::protocol::frame;
use xinshi::protocol::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn with_tls(config: &mut Config) {
    config.server.tls_listen = "127.0.0.1:0".into();
    config.server.tls_cert = fixture("cert.pem");
    config.server.tls_key = fixture("key.pem");
}

/// A client configuration that trusts exactly the test certificate.
fn trusting_client() -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A blocking HTTPS GET (rustls over a std socket); returns the whole response.
fn https_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(trusting_client(), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    response
}

fn tls_port(server: &TestServer) -> u16 {
    server.server.as_ref().unwrap().tls_addr().expect("a TLS listener").port()
}

#[tokio::test]
async fn wss_and_https_work_beside_the_plain_listener() {
    let server = TestServer::start_with(with_tls);
    let port = tls_port(&server);

    let mut request = format!("wss://127.0.0.1:{port}/").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "lc.protobuf2.3".parse().unwrap());
    let connector = Connector::Rustls(trusting_client());
    let (mut ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await.unwrap();
    let mut cmd = open("alice");
    cmd.i = Some(1);
    ws.send(Message::Binary(cmd.encode_to_vec().into())).await.unwrap();
    let reply = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Binary(bytes) => break frame::decode_binary(&bytes).unwrap(),
            _ => continue,
        }
    };
    assert_eq!((reply.i, reply.op), (Some(1), Some(OpType::Opened as i32)), "{reply:?}");

    // Over https, discovery hands out the TLS addresses.
    let path = format!("/v1/route?appId={APP_ID}");
    let response = tokio::task::spawn_blocking(move || https_get(port, &path)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&format!("wss://127.0.0.1:{port}/")), "{response}");

    // The plain listener still answers, with its own address.
    let mut plain = Client::login(&server, "bob").await;
    let echo = plain.request(frame::command(CommandType::Echo, None)).await;
    assert_eq!(echo.cmd, Some(CommandType::Echo as i32));
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_cannot_connect() {
    let server = TestServer::start_with(with_tls);
    let url = format!("wss://127.0.0.1:{}/", tls_port(&server));
    let result = tokio_tungstenite::connect_async(url).await;
    assert!(result.is_err(), "the web PKI does not know this certificate");
    server.stop().await;
}

#[tokio::test]
async fn tls_alone_and_bad_key_files() {
    let server = TestServer::start_with(|c| {
        with_tls(c);
        c.server.listen = String::new();
    });
    let started = server.server.as_ref().unwrap();
    assert_eq!(started.addr(), started.tls_addr().unwrap());
    assert!(started.ws_url().starts_with("wss://"), "{}", started.ws_url());
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.storage.data_dir = dir.path().join("data");
    with_tls(&mut config);
    config.server.tls_key = fixture("missing-key.pem");
    let err = xinshi::server::Server::start(config).err().expect("a missing key file stops the start");
    assert!(err.to_string().contains("missing-key.pem"), "{err}");
}
