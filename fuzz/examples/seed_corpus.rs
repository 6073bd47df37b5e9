//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: the frames the
//! LeanCloud SDKs send (spec/wire-protocol.md §5), encoded with xinshi's own prost types,
//! `where`/`sort` examples from the spec, typed-message texts and the REST headers.
//!
//! Run from `fuzz/`: `cargo run --example seed_corpus` (no sanitizer needed).

use std::fs;
use std::path::{Path, PathBuf};

use xinshi::protocol::frame;
use xinshi::protocol::*;
use xinshi::signature::{Action, sign};

const APP: &str = "fuzz-app";
const MASTER: &str = "fuzz-master-key";
const NOW: i64 = 1_795_641_565_576;

fn cmd(cmd: CommandType, op: Option<OpType>, i: Option<i32>) -> GenericCommand {
    GenericCommand { i, app_id: Some(APP.into()), peer_id: Some("alice".into()), ..frame::command(cmd, op) }
}

fn json(data: &str) -> Option<JsonObjectMessage> {
    Some(JsonObjectMessage { data: data.into() })
}

/// The frames an SDK sends, by name; `signed` ones carry `s`, `t`, `n`.
fn frames() -> Vec<(&'static str, GenericCommand)> {
    let open = SessionCommand {
        ua: Some("js/5.0.0-rc.8".into()),
        r: Some(false),
        device_id: Some("3f2a6c1e-9b7d-4e1a-8c55-0d9e7a6b4c21".into()),
        last_patch_time: Some(NOW - 5_000),
        config_bitmap: Some(187),
        ..Default::default()
    };
    let login_sig = |t: i64, n: &str| sign(MASTER, &Action::login("alice").message(APP, t, n));
    let members = vec!["alice".to_string(), "bob".to_string()];
    let start_sig = sign(MASTER, &Action::start("alice", &members).message(APP, NOW, "n1"));
    let add_sig = sign(MASTER, &Action::members("alice", "c1", &["carol".into()], "invite").message(APP, NOW, "n2"));
    let block_sig = sign(
        MASTER,
        &Action::blacklist("alice", "c1", &["dave".into()], "conversation-block-clients").message(APP, NOW, "n3"),
    );
    let typed = r#"{"_lctype":-1,"_lctext":"hello","_lcattrs":{"k":"v"}}"#;
    vec![
        (
            "session-open",
            GenericCommand {
                session_message: Some(open.clone()),
                ..cmd(CommandType::Session, Some(OpType::Open), Some(1))
            },
        ),
        (
            "session-open-tag-signed",
            GenericCommand {
                session_message: Some(SessionCommand {
                    tag: Some("Mobile".into()),
                    t: Some(NOW),
                    n: Some("nonce-1".into()),
                    s: Some(login_sig(NOW, "nonce-1")),
                    ..open.clone()
                }),
                ..cmd(CommandType::Session, Some(OpType::Open), Some(1))
            },
        ),
        (
            "session-open-signed-seconds",
            GenericCommand {
                session_message: Some(SessionCommand {
                    t: Some(NOW / 1000),
                    n: Some("n".into()),
                    s: Some(login_sig(NOW / 1000, "n")),
                    ..open.clone()
                }),
                ..cmd(CommandType::Session, Some(OpType::Open), Some(1))
            },
        ),
        (
            "session-open-reconnect",
            GenericCommand {
                session_message: Some(SessionCommand {
                    r: Some(true),
                    device_id: None,
                    st: Some("c2Vzc2lvbi10b2tlbg".into()),
                    last_unread_notif_time: Some(NOW - 1_000),
                    ..open.clone()
                }),
                ..cmd(CommandType::Session, Some(OpType::Open), Some(2))
            },
        ),
        (
            "session-refresh",
            GenericCommand {
                session_message: Some(SessionCommand {
                    st: Some("old-token".into()),
                    ua: open.ua.clone(),
                    ..Default::default()
                }),
                ..cmd(CommandType::Session, Some(OpType::Refresh), Some(3))
            },
        ),
        (
            "session-query",
            GenericCommand {
                session_message: Some(SessionCommand {
                    session_peer_ids: vec!["bob".into(), "carol".into()],
                    ..Default::default()
                }),
                ..cmd(CommandType::Session, Some(OpType::Query), Some(4))
            },
        ),
        ("session-close", cmd(CommandType::Session, Some(OpType::Close), Some(5))),
        (
            "conv-start",
            GenericCommand {
                conv_message: Some(ConvCommand {
                    m: members.clone(),
                    unique: Some(true),
                    attr: json(r#"{"name":"probe","level":3,"tags":["x","y"]}"#),
                    ..Default::default()
                }),
                ..cmd(CommandType::Conv, Some(OpType::Start), Some(6))
            },
        ),
        (
            "conv-start-signed",
            GenericCommand {
                conv_message: Some(ConvCommand {
                    m: members.clone(),
                    t: Some(NOW),
                    n: Some("n1".into()),
                    s: Some(start_sig),
                    ..Default::default()
                }),
                ..cmd(CommandType::Conv, Some(OpType::Start), Some(7))
            },
        ),
        (
            "conv-query-objectid-in",
            GenericCommand {
                conv_message: Some(ConvCommand {
                    where_: json(r#"{"objectId":{"$in":["5f3a9c2e8d1b4a0012345678","c2"]}}"#),
                    sort: Some("-lm".into()),
                    limit: Some(999),
                    flag: Some(2),
                    ..Default::default()
                }),
                ..cmd(CommandType::Conv, Some(OpType::Query), Some(8))
            },
        ),
        (
            "conv-query-temp",
            GenericCommand {
                conv_message: Some(ConvCommand { temp_conv_ids: vec!["_tmp:abc".into()], ..Default::default() }),
                ..cmd(CommandType::Conv, Some(OpType::Query), Some(9))
            },
        ),
        (
            "conv-add-signed",
            GenericCommand {
                conv_message: Some(ConvCommand {
                    cid: Some("c1".into()),
                    m: vec!["carol".into()],
                    t: Some(NOW),
                    n: Some("n2".into()),
                    s: Some(add_sig),
                    ..Default::default()
                }),
                ..cmd(CommandType::Conv, Some(OpType::Add), Some(10))
            },
        ),
        (
            "conv-remove",
            GenericCommand {
                conv_message: Some(ConvCommand {
                    cid: Some("c1".into()),
                    m: vec!["alice".into()],
                    ..Default::default()
                }),
                ..cmd(CommandType::Conv, Some(OpType::Remove), Some(11))
            },
        ),
        (
            "conv-mute",
            GenericCommand {
                conv_message: Some(ConvCommand { cid: Some("c1".into()), ..Default::default() }),
                ..cmd(CommandType::Conv, Some(OpType::Mute), Some(12))
            },
        ),
        (
            "direct-text",
            GenericCommand {
                direct_message: Some(DirectCommand {
                    cid: Some("c1".into()),
                    msg: Some("hi".into()),
                    ..Default::default()
                }),
                ..cmd(CommandType::Direct, None, Some(13))
            },
        ),
        (
            "direct-typed-receipt",
            GenericCommand {
                direct_message: Some(DirectCommand {
                    cid: Some("c1".into()),
                    msg: Some(typed.into()),
                    r: Some(true),
                    dt: Some("dedup-token-1".into()),
                    mention_pids: vec!["bob".into()],
                    ..Default::default()
                }),
                ..cmd(CommandType::Direct, None, Some(14))
            },
        ),
        (
            "direct-binary",
            GenericCommand {
                direct_message: Some(DirectCommand {
                    cid: Some("c1".into()),
                    binary_msg: Some(vec![0, 1, 2, 0xff].into()),
                    ..Default::default()
                }),
                ..cmd(CommandType::Direct, None, Some(15))
            },
        ),
        (
            "direct-transient-will",
            GenericCommand {
                direct_message: Some(DirectCommand {
                    cid: Some("c1".into()),
                    msg: Some(r#"{"_lctype":1,"_lcfile":{"url":"https://x/y.png"}}"#.into()),
                    transient: Some(true),
                    will: Some(true),
                    mention_all: Some(true),
                    ..Default::default()
                }),
                ..cmd(CommandType::Direct, None, Some(16))
            },
        ),
        (
            "ack-receive",
            GenericCommand {
                ack_message: Some(AckCommand {
                    mid: Some("m1".into()),
                    cid: Some("c1".into()),
                    fromts: Some(NOW - 10),
                    tots: Some(NOW),
                    ..Default::default()
                }),
                ..cmd(CommandType::Ack, None, None)
            },
        ),
        (
            "read",
            GenericCommand {
                read_message: Some(ReadCommand {
                    convs: vec![ReadTuple { cid: "c1".into(), timestamp: Some(NOW), mid: Some("m1".into()) }],
                    ..Default::default()
                }),
                ..cmd(CommandType::Read, None, None)
            },
        ),
        (
            "logs-new-typed",
            GenericCommand {
                logs_message: Some(LogsCommand {
                    cid: Some("c1".into()),
                    l: Some(20),
                    t: Some(NOW),
                    mid: Some("m1".into()),
                    direction: Some(QueryDirection::New as i32),
                    t_included: Some(true),
                    lctype: Some(-1),
                    ..Default::default()
                }),
                ..cmd(CommandType::Logs, None, Some(17))
            },
        ),
        (
            "patch-modify",
            GenericCommand {
                patch_message: Some(PatchCommand {
                    patches: vec![PatchItem {
                        cid: Some("c1".into()),
                        mid: Some("m1".into()),
                        timestamp: Some(NOW - 100),
                        data: Some(typed.into()),
                        patch_timestamp: Some(NOW),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..cmd(CommandType::Patch, Some(OpType::Modify), Some(18))
            },
        ),
        (
            "blacklist-block-signed",
            GenericCommand {
                blacklist_message: Some(BlacklistCommand {
                    src_cid: Some("c1".into()),
                    to_pids: vec!["dave".into()],
                    t: Some(NOW),
                    n: Some("n3".into()),
                    s: Some(block_sig),
                    ..Default::default()
                }),
                ..cmd(CommandType::Blacklist, Some(OpType::Block), Some(19))
            },
        ),
        (
            "blacklist-query",
            GenericCommand {
                blacklist_message: Some(BlacklistCommand {
                    src_pid: Some("alice".into()),
                    limit: Some(10),
                    ..Default::default()
                }),
                ..cmd(CommandType::Blacklist, Some(OpType::Query), Some(20))
            },
        ),
        ("login-android", GenericCommand { service: Some(0), ..cmd(CommandType::Login, None, None) }),
        ("echo", cmd(CommandType::Echo, None, Some(21))),
    ]
}

/// `sort`, `where` pairs: the spec's examples and what the SDKs send.
const WHERE: &[(&str, &str)] = &[
    ("-lm", r#"{"objectId":{"$in":["5f3a9c2e8d1b4a0012345678","c2"]}}"#),
    ("-lm", r#"{"m":"alice"}"#),
    ("name", r#"{"m":{"$all":["alice","bob"]},"name":{"$regex":"^\\Qpro\\E","$options":"i"}}"#),
    ("-createdAt,name", r#"{"m":{"$size":2},"tr":false,"sys":{"$ne":true}}"#),
    ("lm", r#"{"lm":{"$gt":{"__type":"Date","iso":"2026-01-01T00:00:00.000Z"}}}"#),
    ("-updatedAt", r#"{"createdAt":{"$lte":"2026-11-25T21:19:25.576Z"},"level":{"$gte":2,"$lt":5}}"#),
    ("", r#"{"$or":[{"c":"alice"},{"mu":{"$in":["dave"]}}],"tags":{"$nin":["z"]}}"#),
    ("-level, name", r#"{"$and":[{"name":{"$exists":true}},{"attr.a.b":1}]}"#),
    ("nested.deep", r#"{"nested.deep.deeper":{"$all":[1,2]},"uniqueId":{"$exists":false}}"#),
    ("-lm", "{}"),
];

/// Message texts and conversation attributes.
const MESSAGES: &[&str] = &[
    r#"{"_lctype":-1,"_lctext":"hello","_lcattrs":{"k":"v"}}"#,
    r#"{"_lctype":-2,"_lcfile":{"url":"https://example.com/a.png","objId":"5f3a","metaData":{"width":10,"height":20,"format":"png","size":1024}},"_lctext":""}"#,
    r#"{"_lctype":-5,"_lclocation":{"latitude":39.9,"longitude":116.4},"_lctext":"here"}"#,
    r#"{"_lctype":-127,"_lctext":"recalled"}"#,
    r#"{"_lctype":7,"x":[1,2.5,null,true],"y":{"z":"w"}}"#,
    r#"{"name":"probe","level":3,"tags":["x","y"],"objectId":"forged","sys":true}"#,
    r#"{"_lctype":2147483648}"#,
    "plain text, not JSON",
    "",
];

/// `X-LC-Id`, `X-LC-Key`, `X-LC-Sign` lines (`@ts` is signed by the target).
const HEADERS: &[&str] = &[
    "fuzz-app\nfuzz-app-key\n",
    "fuzz-app\nfuzz-master-key,master\n",
    "fuzz-app\n\n@1795641565576",
    "fuzz-app\n\n@1795641565576,master",
    "fuzz-app\n\n0123456789abcdef0123456789abcdef,1795641565576",
    "other-app\nfuzz-app-key\n",
];

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus directory");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, command) in frames() {
        let bytes = frame::encode(&command);
        write(&root.join("frame_binary"), name, &bytes);
        write(&root.join("frame_base64"), name, frame::to_base64(&bytes).as_bytes());
        let signed = [&[0u8][..], &bytes].concat();
        write(&root.join("signature"), name, &signed);
        if name.contains("signed") {
            write(&root.join("signature"), &format!("{name}-honest"), &[&[1u8][..], &bytes].concat());
            write(&root.join("signature"), &format!("{name}-kicked"), &[&[5u8][..], &bytes].concat());
        }
    }
    for (i, (sort, cond)) in WHERE.iter().enumerate() {
        write(&root.join("query_where"), &format!("spec-{i}"), format!("{sort}\n{cond}").as_bytes());
    }
    for (i, text) in MESSAGES.iter().enumerate() {
        write(&root.join("message_json"), &format!("text-{i}"), text.as_bytes());
    }
    for (i, text) in HEADERS.iter().enumerate() {
        write(&root.join("lc_sign"), &format!("headers-{i}"), text.as_bytes());
    }
    println!("wrote {}", root.display());
}
