//! The store's journal after damage done while the server was stopped: a torn tail (what
//! a crash leaves) is recovered; other damage, a deleted journal and damaged table or
//! manifest files refuse to start with an error naming the file, unless repairing.

use std::path::{Path, PathBuf};

use crate::client::*;
use xinshi::config::Config;
use xinshi::server::Server;

/// Acknowledged messages in a conversation, then a clean stop. Returns the texts sent.
async fn write_and_stop(server: &mut TestServer, count: usize, flush_first: usize) -> (String, Vec<String>) {
    let mut alice = Client::login(server, "alice").await;
    let cid = started_cid(&alice.request(start_conv(&["bob"], true, "{}")).await);
    let mut sent = Vec::new();
    for n in 0..count {
        if n == flush_first {
            assert!(server.node().store.flush_memtable(), "the engine can flush");
        }
        let text = format!("message {n}");
        acked(&alice.request(direct(&cid, &text, None)).await);
        sent.push(text);
    }
    alice.close().await;
    server.server.take().unwrap().stop().await.unwrap();
    (cid, sent)
}

fn restart_config(server: &TestServer, repair: bool) -> Config {
    let mut config = server.config.clone();
    config.server.listen = "127.0.0.1:0".into();
    config.storage.repair_journal = repair;
    config
}

async fn start_error(config: Config) -> String {
    match Server::start(config) {
        Ok(server) => {
            server.stop().await.unwrap();
            panic!("the server started on a damaged store");
        }
        Err(err) => err.to_string(),
    }
}

/// The journal files, oldest first, and the active (newest) one.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let id = p.file_name()?.to_str()?.strip_suffix(".jnl")?.parse().ok()?;
            Some((id, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

fn active_journal(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = journals(dir).pop().expect("a journal file");
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Where the journal's data ends (fjall preallocates the rest with zeros).
fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

async fn history(server: &Server, cid: &str) -> Vec<String> {
    let url = server.ws_url();
    let mut bob = Client::connect_with(&url, Some("lc.protobuf2.3")).await.unwrap();
    let _ = bob.request(open("bob")).await;
    let reply = bob.request(logs(cid, |q| q.l = Some(1000))).await;
    if reply.logs_message.is_none() {
        eprintln!("no history: {reply:?}");
        return Vec::new();
    }
    log_texts(&reply)
}

#[tokio::test]
async fn hardening_journal_torn_tail_is_recovered() {
    if embedded_only("hardening_journal_torn_tail_is_recovered") {
        return;
    }
    let mut server = TestServer::start_with(no_rate_limits);
    let (cid, sent) = write_and_stop(&mut server, 40, usize::MAX).await;
    let dir = server.config.storage.data_dir.clone();
    let (path, bytes) = active_journal(&dir);
    let end = data_end(&bytes);
    assert!(end > 1000, "the messages are in the journal ({end} bytes)");
    // A crash in the middle of the last write: its last bytes never reached the disk.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len((end - 6) as u64).unwrap();
    drop(file);

    let restarted = Server::start(restart_config(&server, false)).expect("a torn tail is recovered");
    let texts = history(&restarted, &cid).await;
    assert!(texts.len() >= sent.len() - 1, "at most the last write is lost: {} of {}", texts.len(), sent.len());
    assert_eq!(texts, sent[..texts.len()], "what is there is what was sent, in order");
    restarted.stop().await.unwrap();
}

#[tokio::test]
async fn hardening_journal_damaged_at_the_start_refuses_unless_repaired() {
    if embedded_only("hardening_journal_damaged_at_the_start_refuses_unless_repaired") {
        return;
    }
    let mut server = TestServer::start_with(no_rate_limits);
    let (cid, _) = write_and_stop(&mut server, 20, usize::MAX).await;
    let dir = server.config.storage.data_dir.clone();
    let (path, mut bytes) = active_journal(&dir);
    for b in &mut bytes[..16] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let err = start_error(restart_config(&server, false)).await;
    assert!(err.contains(&path.display().to_string()), "the error names the file: {err}");
    assert!(err.contains("damaged"), "{err}");
    // Refusing changed nothing: it refuses again.
    start_error(restart_config(&server, false)).await;

    let repaired = Server::start(restart_config(&server, true)).expect("repair starts");
    let texts = history(&repaired, &cid).await;
    assert!(texts.len() < 20, "repairing cut the journal: {texts:?}");
    let url = repaired.ws_url();
    let mut alice = Client::connect_with(&url, Some("lc.protobuf2.3")).await.unwrap();
    let _ = alice.request(open("alice")).await;
    let conv = started_cid(&alice.request(start_conv(&["carol"], false, "{}")).await);
    acked(&alice.request(direct(&conv, "after the repair", None)).await);
    repaired.stop().await.unwrap();
    assert!(path.with_extension("jnl.damaged").exists(), "the damaged journal is kept aside");
}

#[tokio::test]
async fn hardening_journal_deleted_refuses_unless_repaired() {
    if embedded_only("hardening_journal_deleted_refuses_unless_repaired") {
        return;
    }
    let mut server = TestServer::start_with(no_rate_limits);
    let (cid, sent) = write_and_stop(&mut server, 20, 10).await;
    let dir = server.config.storage.data_dir.clone();
    let files = journals(&dir);
    assert!(!files.is_empty());
    for file in &files {
        std::fs::remove_file(file).unwrap();
    }

    let err = start_error(restart_config(&server, false)).await;
    assert!(err.contains(&files.last().unwrap().display().to_string()), "the error names the file: {err}");
    assert!(err.contains("missing"), "{err}");

    let repaired = Server::start(restart_config(&server, true)).expect("repair starts");
    let texts = history(&repaired, &cid).await;
    assert_eq!(texts, sent[..10], "what was flushed to tables before is kept");
    let url = repaired.ws_url();
    let mut alice = Client::connect_with(&url, Some("lc.protobuf2.3")).await.unwrap();
    let _ = alice.request(open("alice")).await;
    acked(&alice.request(direct(&cid, "after the repair", None)).await);
    assert_eq!(history(&repaired, &cid).await.last().map(String::as_str), Some("after the repair"));
    repaired.stop().await.unwrap();
}

/// Flips bytes in the middle of `path`.
fn flip_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let (mid, len) = (bytes.len() / 2, bytes.len());
    for b in &mut bytes[mid..(mid + 16).min(len)] {
        *b ^= 0x5a;
    }
    std::fs::write(path, &bytes).unwrap();
}

/// The newest version (manifest) file `v<n>` of the keyspace holding xinshi's data.
fn newest_manifest(dir: &Path) -> PathBuf {
    let keyspace = dir.join("keyspaces").join("1");
    let mut versions: Vec<(u64, PathBuf)> = std::fs::read_dir(&keyspace)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some((p.file_name()?.to_str()?.strip_prefix('v')?.parse().ok()?, p)))
        .collect();
    versions.sort();
    versions.pop().expect("a version file").1
}

#[tokio::test]
async fn hardening_journal_damaged_table_or_manifest_still_refuses() {
    if embedded_only("hardening_journal_damaged_table_or_manifest_still_refuses") {
        return;
    }
    for target in ["table", "manifest"] {
        let mut server = TestServer::start_with(no_rate_limits);
        write_and_stop(&mut server, 20, 10).await;
        let dir = server.config.storage.data_dir.clone();
        let victim = match target {
            "table" => std::fs::read_dir(dir.join("keyspaces").join("1").join("tables"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .next()
                .expect("a table file"),
            _ => newest_manifest(&dir),
        };
        flip_middle(&victim);
        let err = start_error(restart_config(&server, false)).await;
        assert!(err.contains(&dir.display().to_string()), "{target}: the error names the store: {err}");
    }
}
