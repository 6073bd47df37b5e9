//! Issue 9, point 4: the store never stays broken. The connection cap follows the open-file
//! limit, so sockets cannot take the files the store needs; a store that fails for good
//! answers every pending request with an error and the server stops (the binary exits 70
//! for a supervisor to restart it), losing nothing it acknowledged.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::child::ChildServer;
use crate::client::*;
use xinshi::protocol::{CommandType, GenericCommand};
use xinshi::server::FileBudget;

/// Sends `count` messages without waiting; returns their `i`s.
async fn send_many(client: &mut Client, cid: &str, count: usize) -> Vec<i32> {
    let mut sent = Vec::new();
    for n in 0..count {
        sent.push(client.send_request(direct(cid, &format!("in flight {n}"), None)).await);
    }
    sent
}

/// Collects the replies to `pending`; stops early if the socket closes.
async fn replies(client: &mut Client, mut pending: Vec<i32>) -> (Vec<GenericCommand>, usize) {
    let mut got = Vec::new();
    while !pending.is_empty() {
        match client.recv().await {
            Ok(reply) => {
                if let Some(pos) = pending.iter().position(|i| reply.i == Some(*i)) {
                    pending.remove(pos);
                    got.push(reply);
                }
            }
            Err(_) => break,
        }
    }
    (got, pending.len())
}

#[tokio::test]
async fn hardening_store_failure_answers_every_pending_send_and_stops_the_server() {
    if embedded_only("hardening_store_failure_answers_every_pending_send_and_stops_the_server") {
        return;
    }
    let server = TestServer::start_with(no_rate_limits);
    let mut clients = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let mut client = Client::login(&server, name).await;
        let cid = started_cid(&client.request(start_conv(&["zoe"], false, "{}")).await);
        acked(&client.request(direct(&cid, "before", None)).await);
        clients.push((client, cid));
    }
    // The next commit stalls for 5 s and the engine counts as failed from its start: what
    // fjall does when a flush fails while a writer waits for it.
    let stall = Duration::from_secs(5);
    assert!(server.node().store.inject_fault(stall));
    let started = Instant::now();
    let mut pending = Vec::new();
    for (client, cid) in &mut clients {
        pending.push(send_many(client, cid, 5).await);
    }
    let mut answered = 0;
    for ((client, _), pending) in clients.iter_mut().zip(pending) {
        let (got, unanswered) = replies(client, pending).await;
        assert_eq!(unanswered, 0, "every send in flight is answered before the socket closes");
        for reply in got {
            assert_eq!(error_code(&reply), 4200, "{reply:?}");
            answered += 1;
        }
    }
    let took = started.elapsed();
    println!("{answered} sends in flight answered 4200 in {took:?} (the failed commit stalls {stall:?})");
    assert!(took < stall, "the answers do not wait for the stalled commit: {took:?}");

    // The server does not stay up unable to write: it stops by itself.
    // (The answers may overtake the server's record of the failure.)
    let failure = server.server.as_ref().unwrap().failure();
    eventually("the server records the failure", || failure.borrow().is_some()).await;
    let why = failure.borrow().clone();
    assert!(why.as_deref().is_some_and(|w| w.contains("injected")), "{why:?}");
    for (client, _) in &mut clients {
        // Waits for the close (a socket left open fails the test after WAIT).
        client.closed_code().await;
    }
    let url = server.ws_url();
    let deadline = Instant::now() + WAIT;
    while Client::connect_with(&url, Some("lc.protobuf2.3")).await.is_ok() {
        assert!(Instant::now() < deadline, "the server still accepts after the store failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit only reads the struct.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

async fn login(url: &str, client_id: &str) -> Client {
    let mut client = Client::connect_with(url, Some("lc.protobuf2.3")).await.expect("connects");
    let opened = client.request(open(client_id)).await;
    assert!(opened.session_message.is_some(), "{opened:?}");
    client
}

#[tokio::test]
async fn hardening_connection_cap_follows_the_file_limit() {
    if embedded_only("hardening_connection_cap_follows_the_file_limit") {
        return;
    }
    const FILES: u64 = 256;
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start_on(dir.path(), &[], || set_limit(libc::RLIMIT_NOFILE, FILES));
    let url = server.ws_url();
    let expected = FileBudget::for_limit(FILES).websockets;

    let mut alice = login(&url, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
    let mut sockets = vec![login(&url, "bob").await];
    let refused = loop {
        match Client::connect_with(&url, Some("lc.protobuf2.3")).await {
            Ok(socket) => sockets.push(socket),
            Err(err) => break err,
        }
        assert!(sockets.len() <= FILES as usize, "more sockets than files: no cap");
    };
    let opened = sockets.len() + 1;
    println!("{opened} WebSockets open under a limit of {FILES} files, then: {refused}");
    let tokio_tungstenite::tungstenite::Error::Http(response) = &refused else {
        panic!("not an HTTP refusal: {refused}")
    };
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["code"], 503, "{body}");
    assert_eq!(opened, expected, "the cap is the open-file limit less the store's reserve");

    // At the cap the store still writes, and a freed place can be taken again.
    for n in 0..20 {
        acked(&alice.request(direct(&cid, &format!("at the cap {n}"), None)).await);
    }
    sockets.pop().unwrap().close().await;
    let deadline = Instant::now() + WAIT;
    let mut again = loop {
        if let Ok(socket) = Client::connect_with(&url, Some("lc.protobuf2.3")).await {
            break socket;
        }
        assert!(Instant::now() < deadline, "a freed place is not given again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let opened = again.request(open("carol")).await;
    assert!(opened.session_message.is_some());
    let history = alice.request(logs(&cid, |q| q.l = Some(100))).await;
    assert_eq!(log_texts(&history).len(), 20);
}

/// Where the newest journal's data ends.
fn journal_data_end(dir: &Path) -> u64 {
    let mut journals: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            Some((path.file_name()?.to_str()?.strip_suffix(".jnl")?.parse().ok()?, path))
        })
        .collect();
    journals.sort();
    let bytes = std::fs::read(&journals.last().unwrap().1).unwrap();
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i as u64 + 1)
}

#[tokio::test]
async fn hardening_store_io_error_exits_70_and_loses_nothing_acknowledged() {
    if embedded_only("hardening_store_io_error_exits_70_and_loses_nothing_acknowledged") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cid = {
        let mut server = ChildServer::start_on(&data, &[], || Ok(()));
        let mut alice = login(&server.ws_url(), "alice").await;
        let cid = started_cid(&alice.request(start_conv(&["bob"], false, "{}")).await);
        acked(&alice.request(direct(&cid, "first", None)).await);
        assert_eq!(server.terminate(), Some(0));
        cid
    };
    // A real I/O error: files may not grow 4 KiB past where the journal ends now (EFBIG,
    // with SIGXFSZ ignored), so a journal write soon fails and fjall poisons itself.
    let cap = journal_data_end(&data) + 4096;
    let mut server = ChildServer::start_on(&data, &[], move || {
        // SAFETY: async-signal-safe.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        set_limit(libc::RLIMIT_FSIZE, cap)
    });
    let mut alice = login(&server.ws_url(), "alice").await;
    let mut acknowledged = vec!["first".to_string()];
    let mut failed = None;
    for n in 0..200 {
        let text = format!("message {n}");
        let i = alice.send_request(direct(&cid, &text, None)).await;
        let (got, unanswered) = replies(&mut alice, vec![i]).await;
        assert_eq!(unanswered, 0, "send {n} got no answer");
        let reply = &got[0];
        if reply.cmd == Some(CommandType::Ack as i32) && reply.ack_message.as_ref().is_some_and(|a| a.code.is_none()) {
            acknowledged.push(text);
        } else {
            failed = Some(error_code(reply));
            break;
        }
    }
    assert_eq!(failed, Some(4200), "a send fails once the journal cannot be written");
    assert_eq!(server.exit_code(), Some(70), "the server exits for a supervisor to restart it");
    println!("{} messages acknowledged before the I/O error; exit status 70", acknowledged.len());

    let server = ChildServer::start_on(&data, &[], || Ok(()));
    let mut bob = login(&server.ws_url(), "bob").await;
    let history = bob.request(logs(&cid, |q| q.l = Some(1000))).await;
    assert_eq!(log_texts(&history), acknowledged, "after the restart every acknowledged message is there");
}
