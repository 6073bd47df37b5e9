//! Operation signatures (`s`, `t`, `n` of `session/open`, `conv/start`, `conv/add`, …,
//! `blacklist/*`): every field comes from the client's frame.
//!
//! Checked: nothing panics, whatever the fields; an honest signature (computed the way an
//! app server does, in either hex case) is accepted exactly when its timestamp is within
//! the TTL and not older than the client's last kick, and a signature that differs from
//! every honest one is refused.
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use xinshi::clock::ManualClock;
use xinshi::config::Config;
use xinshi::node::Node;
use xinshi::signature::{Action, Signed, sign, timestamp_ms, verify};

const NOW: i64 = 1_795_641_565_576;
const KICKED_CLIENT: &str = "kicked";
const KICKED_AT: i64 = NOW - 3_600_000;

fn node() -> &'static Arc<Node> {
    static NODE: OnceLock<Arc<Node>> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"),
        ));
        let mut config = Config::default();
        config.app.id = "fuzz-app".into();
        config.app.master_key = "fuzz-master-key".into();
        config.security.login_signature = true;
        config.security.conversation_signature = true;
        config.security.blacklist_signature = true;
        config.storage.data_dir = PathBuf::from(std::env::temp_dir())
            .join(format!("xinshi-fuzz-signature-{}", std::process::id()));
        let node = Node::open(config, Arc::new(ManualClock::new(NOW)), runtime.handle().clone()).expect("a node");
        node.tokens.revoke(KICKED_CLIENT, KICKED_AT, i64::MAX / 4);
        node
    })
}

#[derive(Debug, Arbitrary)]
struct Input {
    kind: u8,
    client: String,
    cid: String,
    members: Vec<String>,
    action: String,
    alternative_members: Option<Vec<String>>,
    signature: Option<String>,
    timestamp: Option<i64>,
    nonce: Option<String>,
    /// Sign honestly instead of using `signature` (`true`: upper-case hex).
    honest: Option<bool>,
    kicked: bool,
}

fuzz_target!(init: { node(); }, |input: Input| {
    let node = node();
    let client = if input.kicked { KICKED_CLIENT } else { input.client.as_str() };
    let action = match input.kind % 4 {
        0 => Action::login(client),
        1 => Action::start(client, &input.members),
        2 => Action::members(client, &input.cid, &input.members, &input.action),
        _ => Action::blacklist(client, &input.cid, &input.members, &input.action),
    };
    let alternatives: Vec<Action<'_>> =
        input.alternative_members.iter().map(|members| Action::start(client, members)).collect();
    let honest = match (input.honest, input.timestamp, &input.nonce) {
        (Some(upper), Some(t), Some(nonce)) => {
            let s = sign(&node.config.app.master_key, &action.message(&node.config.app.id, t, nonce));
            Some(if upper { s.to_ascii_uppercase() } else { s })
        }
        _ => None,
    };
    let signed = Signed {
        signature: honest.as_deref().or(input.signature.as_deref()),
        timestamp: input.timestamp,
        nonce: input.nonce.as_deref(),
    };
    let verdict = verify(node, &action, signed, &alternatives);

    let Some(t) = input.timestamp else { return assert!(verdict.is_err(), "accepted without a timestamp") };
    let made = i128::from(timestamp_ms(t));
    let fresh = (i128::from(NOW) - made).abs() <= i128::from(node.config.security.signature_ttl_secs) * 1000
        && !(client == KICKED_CLIENT && made <= i128::from(KICKED_AT));
    if honest.is_some() {
        assert_eq!(verdict.is_ok(), fresh, "an honest signature got the wrong verdict: {verdict:?}");
    } else if verdict.is_ok() {
        let nonce = input.nonce.as_deref().expect("accepted without a nonce");
        let given = input.signature.as_deref().expect("accepted without a signature").to_ascii_lowercase();
        let expected = std::iter::once(&action)
            .chain(&alternatives)
            .map(|a| sign(&node.config.app.master_key, &a.message(&node.config.app.id, t, nonce)));
        assert!(fresh, "accepted a stale signature");
        assert!(expected.into_iter().any(|s| s == given), "accepted a signature that matches nothing");
    }
});
