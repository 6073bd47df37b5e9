//! Operation signatures (`s`, `t`, `n` of `session/open`, `conv/start`, `conv/add`,
//! `conv/remove`, `blacklist/block`, …): every field comes from the client's frame.
//!
//! Input: one flag byte, then a binary frame (the seeds in `corpus/signature` are signed SDK
//! frames). The action is built from the frame the way the handlers build it, and checked
//! with `signature::verify` on a node with every signature family switched on.
//! Flag bit 0: replace `s` by the honest signature (what the app server computes); bit 1:
//! in upper-case hex; bit 2: the client is one the app kicked an hour ago.
//!
//! Checked: nothing panics, whatever the fields; an honest signature is accepted exactly
//! when its timestamp is within the TTL and not older than the client's last kick — except
//! that a login signature opens one session only: used again, it is refused as a replay,
//! and only then (or once the node's nonce memory is full); an accepted signature always
//! equals one of the honest ones.
#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use xinshi::clock::ManualClock;
use xinshi::config::Config;
use xinshi::node::Node;
use xinshi::protocol::{CommandType, OpType, frame};
use xinshi::signature::{Action, Signed, sign, timestamp_ms, verify};

const NOW: i64 = 1_795_641_565_576;
const KICKED_CLIENT: &str = "kicked";
const KICKED_AT: i64 = NOW - 3_600_000;
/// Login nonces the node remembers (small, so that forgetting the oldest is fuzzed too).
const NONCES: usize = 10_000;

/// Honest login signatures accepted so far: `(client, nonce, signature)`.
fn used() -> &'static Mutex<HashSet<(String, String, String)>> {
    static USED: OnceLock<Mutex<HashSet<(String, String, String)>>> = OnceLock::new();
    USED.get_or_init(Mutex::default)
}

fn node() -> &'static Arc<Node> {
    static NODE: OnceLock<Arc<Node>> = OnceLock::new();
    NODE.get_or_init(|| {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        let runtime = RUNTIME
            .get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"));
        let mut config = Config::default();
        config.app.id = "fuzz-app".into();
        config.app.master_key = "fuzz-master-key".into();
        config.security.login_signature = true;
        config.security.conversation_signature = true;
        config.security.blacklist_signature = true;
        config.security.max_remembered_nonces = NONCES;
        config.storage.data_dir = std::env::temp_dir().join(format!("xinshi-fuzz-signature-{}", std::process::id()));
        let node = Node::open(config, Arc::new(ManualClock::new(NOW)), runtime.handle().clone()).expect("a node");
        node.tokens.revoke(KICKED_CLIENT, KICKED_AT, i64::MAX / 4);
        node
    })
}

fuzz_target!(init: { node(); }, |data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else { return };
    let Ok(mut cmd) = frame::decode_binary(bytes) else { return };
    if flags & 4 != 0 {
        cmd.peer_id = Some(KICKED_CLIENT.into());
    }
    let client = cmd.peer_id.clone().unwrap_or_default();
    let (cmd_type, op) = (cmd.cmd(), cmd.op());

    // (action, its alternatives, the signed fields), as the handlers build them.
    let mut conv = cmd.conv_message.take().unwrap_or_default();
    let mut session = cmd.session_message.take().unwrap_or_default();
    let mut blacklist = cmd.blacklist_message.take().unwrap_or_default();
    let cid = conv.cid.clone().unwrap_or_default();
    let targets = conv.m.clone();
    let src_cid = blacklist.src_cid.clone().unwrap_or_default();
    let to_pids = blacklist.to_pids.clone();
    let cids = blacklist.to_cids.join(":");
    let with_creator: Vec<String> = targets.iter().cloned().chain([client.clone()]).collect();
    let (action, alternatives, fields) = match (cmd_type, op) {
        (CommandType::Conv, OpType::Start) => (
            Action::start(&client, &targets),
            vec![Action::start(&client, &with_creator)],
            (&mut conv.s, conv.t, conv.n.clone()),
        ),
        (CommandType::Conv, OpType::Add | OpType::Remove) => {
            let (documented, sdk4) = if op == OpType::Add { ("invite", "add") } else { ("kick", "remove") };
            (
                Action::members(&client, &cid, &targets, documented),
                vec![Action::members(&client, &cid, &targets, sdk4)],
                (&mut conv.s, conv.t, conv.n.clone()),
            )
        }
        (CommandType::Blacklist, OpType::Block | OpType::Unblock) if !src_cid.is_empty() => (
            Action::blacklist(&client, &src_cid, &to_pids, "conversation-block-clients"),
            vec![],
            (&mut blacklist.s, blacklist.t, blacklist.n.clone()),
        ),
        (CommandType::Blacklist, _) => (
            Action::blacklist(&client, &cids, &[], "client-block-conversations"),
            vec![],
            (&mut blacklist.s, blacklist.t, blacklist.n.clone()),
        ),
        _ => (Action::login(&client), vec![], (&mut session.s, session.t, session.n.clone())),
    };
    let (s, t, n) = fields;
    let master_key = &node().config.app.master_key;
    let app_id = &node().config.app.id;
    let honest = flags & 1 != 0 && t.is_some() && n.is_some();
    if let (true, Some(t), Some(n)) = (honest, t, &n) {
        let signature = sign(master_key, &action.message(app_id, t, n));
        *s = Some(if flags & 2 != 0 { signature.to_ascii_uppercase() } else { signature });
    }
    let signed = Signed { signature: s.as_deref(), timestamp: t, nonce: n.as_deref() };
    let verdict = verify(node(), &action, signed, &alternatives);

    let (Some(t), Some(n), Some(s)) = (t, &n, s.as_deref()) else {
        return assert!(verdict.is_err(), "accepted without s, t and n");
    };
    let made = i128::from(timestamp_ms(t));
    let fresh = (i128::from(NOW) - made).abs() <= i128::from(node().config.security.signature_ttl_secs) * 1000
        && !(client == KICKED_CLIENT && made <= i128::from(KICKED_AT));
    let login = action.family == xinshi::signature::Family::Login;
    let replay = verdict.as_ref().is_err_and(|e| e.detail.as_deref().is_some_and(|d| d.contains("used already")));
    if login && fresh && (honest || verdict.is_ok() || replay) {
        let mut used = used().lock().unwrap();
        let key = (client.to_string(), n.clone(), s.to_ascii_lowercase());
        if replay {
            assert!(used.contains(&key) || used.len() >= NONCES, "a login signature refused as a replay, unused");
        } else if verdict.is_ok() {
            assert!(used.insert(key) || used.len() >= NONCES, "a login signature accepted twice");
        }
    }
    if honest && !replay {
        assert_eq!(verdict.is_ok(), fresh, "an honest signature got the wrong verdict: {verdict:?}");
    } else if verdict.is_ok() {
        assert!(fresh, "accepted a stale signature");
        let given = s.to_ascii_lowercase();
        let matches = std::iter::once(&action).chain(&alternatives).any(|a| sign(master_key, &a.message(app_id, t, n)) == given);
        assert!(matches, "accepted a signature that matches no action");
    }
});
