//! Wire-level tests for the hand-written schema (spec/wire-protocol.md §4).

use bytes::Bytes;
use prost::Message;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn json(data: &str) -> Option<JsonObjectMessage> {
    Some(JsonObjectMessage { data: data.to_owned() })
}

#[test]
fn decodes_real_session_opened_frame() {
    let frame = hex("080010052205616c696365280148c1f4dfa4a134b20617521266616b652d73657373696f6e2d746f6b656e58a038");
    let cmd = GenericCommand::decode(frame.as_slice()).unwrap();

    assert_eq!(cmd.cmd, Some(CommandType::Session as i32));
    assert_eq!(cmd.cmd(), CommandType::Session);
    assert_eq!(cmd.op, Some(5));
    assert_eq!(cmd.op(), OpType::Opened);
    assert_eq!(cmd.peer_id.as_deref(), Some("alice"));
    assert_eq!(cmd.i, Some(1));
    assert!(cmd.server_ts.is_some_and(|ts| ts > 0));

    let session = cmd.session_message.as_ref().expect("sessionMessage");
    assert_eq!(session.st.as_deref(), Some("fake-session-token"));
    assert_eq!(session.st_ttl, Some(7200));

    // Every field that was present is written back, byte for byte.
    assert_eq!(cmd.encode_to_vec(), frame);
}

#[test]
fn explicit_default_values_are_kept() {
    // cmd = 0 (08 00), op = open (10 01), sessionMessage { r = false (28 00) }.
    let frame = hex("0800 1001 b206 02 2800");
    let cmd = GenericCommand::decode(frame.as_slice()).unwrap();

    assert_eq!(cmd.cmd, Some(0));
    assert_eq!(cmd.op(), OpType::Open);
    let session = cmd.session_message.as_ref().unwrap();
    assert_eq!(session.r, Some(false));
    assert_eq!(session.st, None);
    assert_eq!(cmd.peer_id, None);

    assert_eq!(cmd.encode_to_vec(), frame);
}

#[test]
fn unknown_fields_and_enum_values_are_tolerated() {
    let frame = hex(concat!(
        "084d",         // cmd = 77 (unknown)
        "1063",         // op = 99 (unknown)
        "c00c05",       // field 200, varint 5 (unknown)
        "2203626f62",   // peerId = "bob"
        "b2090378797a", // field 150, 3 bytes (unknown)
        "2807",         // i = 7
        "b20607",       // sessionMessage, 7 bytes:
        "52027374",     //   st = "st"
        "f80701",       //   field 127, varint 1 (unknown)
        "8207020809",   // presenceMessage { status = 9 (unknown) }
    ));
    let cmd = GenericCommand::decode(frame.as_slice()).unwrap();

    assert_eq!(cmd.cmd, Some(77));
    assert_eq!(cmd.op, Some(99));
    assert_eq!(cmd.peer_id.as_deref(), Some("bob"));
    assert_eq!(cmd.i, Some(7));
    assert_eq!(cmd.session_message.as_ref().unwrap().st.as_deref(), Some("st"));
    assert_eq!(cmd.presence_message.as_ref().unwrap().status, Some(9));
    assert!(CommandType::try_from(cmd.cmd.unwrap()).is_err());
    assert!(OpType::try_from(cmd.op.unwrap()).is_err());

    // Unknown numbers are re-encoded as they came; unknown fields are dropped.
    let again = GenericCommand::decode(cmd.encode_to_vec().as_slice()).unwrap();
    assert_eq!(again, cmd);
}

#[test]
fn round_trips_direct_and_conv_payloads() {
    let direct = GenericCommand {
        cmd: Some(CommandType::Direct as i32),
        peer_id: Some("alice".into()),
        i: Some(3),
        direct_message: Some(DirectCommand {
            cid: Some("conv-1".into()),
            binary_msg: Some(Bytes::from_static(&[0, 1, 2, 0xff])),
            mention_pids: vec!["bob".into(), "carol".into()],
            mention_all: Some(false),
            transient: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let conv = GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Results as i32),
        i: Some(4),
        conv_message: Some(ConvCommand {
            results: json(r#"[{"objectId":"conv-1","m":["alice","bob"]}]"#),
            where_: json(r#"{"m":"alice"}"#),
            attr: json(r#"{"name":"test"}"#),
            attr_modified: json("{}"),
            m: vec!["alice".into()],
            failed_pids: vec![ErrorCommand {
                code: 4401,
                reason: "INVALID_MESSAGING_TARGET".into(),
                pids: vec!["mallory".into()],
                ..Default::default()
            }],
            temp_conv_ttl: Some(86400),
            existing: Some(true),
            next: Some("cursor".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    for cmd in [direct, conv] {
        let decoded = GenericCommand::decode(cmd.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, cmd);
    }
}

#[test]
fn required_fields_are_encoded_even_when_default() {
    let err = ErrorCommand::default();
    assert_eq!(err.encode_to_vec(), [0x08, 0x00, 0x12, 0x00]);

    let err = ErrorCommand { code: 4102, reason: "SESSION_REQUIRED".into(), ..Default::default() };
    let decoded = ErrorCommand::decode(err.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, err);

    assert_eq!(JsonObjectMessage::default().encode_to_vec(), [0x0a, 0x00]);
    assert_eq!(ReadTuple::default().encode_to_vec(), [0x0a, 0x00]);
    assert_eq!(UnreadTuple::default().encode_to_vec(), [0x0a, 0x00, 0x10, 0x00]);
}

/// Appends `peerId` (field 4) to an encoded `GenericCommand`.
fn append_peer_id(frame: &mut Vec<u8>, peer_id: &str) {
    frame.push(0x22); // field 4, wire type 2
    prost::encoding::encode_varint(peer_id.len() as u64, frame);
    frame.extend_from_slice(peer_id.as_bytes());
}

#[test]
fn appended_field_overrides() {
    let cmd = GenericCommand {
        cmd: Some(CommandType::Direct as i32),
        direct_message: Some(DirectCommand {
            msg: Some("hi".into()),
            from_peer_id: Some("bob".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let encoded = cmd.encode_to_vec();

    let mut frame = encoded.clone();
    frame.extend_from_slice(&[0x22, 0x05]);
    frame.extend_from_slice(b"alice");
    let decoded = GenericCommand::decode(frame.as_slice()).unwrap();
    assert_eq!(decoded.peer_id.as_deref(), Some("alice"));
    assert_eq!(decoded.direct_message, cmd.direct_message);

    // Last occurrence wins, and long ids need a multi-byte length.
    let long_id = "x".repeat(300);
    let mut frame = GenericCommand { peer_id: Some("old".into()), ..cmd.clone() }.encode_to_vec();
    append_peer_id(&mut frame, &long_id);
    let decoded = GenericCommand::decode(frame.as_slice()).unwrap();
    assert_eq!(decoded.peer_id.as_deref(), Some(long_id.as_str()));
}

#[test]
fn logs_direction_defaults_to_old() {
    let logs = LogsCommand::default();
    assert_eq!(logs.direction, None);
    assert_eq!(logs.direction(), QueryDirection::Old);
    // An unset direction is not written.
    assert!(logs.encode_to_vec().is_empty());

    let mut logs = LogsCommand::default();
    logs.set_direction(QueryDirection::New);
    assert_eq!(logs.encode_to_vec(), [0x50, 0x02]);
}

#[test]
fn enum_numbers_and_names() {
    let ops: Vec<OpType> = (0..=255).filter_map(|n| OpType::try_from(n).ok()).collect();
    assert_eq!(ops.len(), 69);
    for op in ops {
        assert_eq!(OpType::from_str_name(op.as_str_name()), Some(op));
    }
    let cmds: Vec<CommandType> = (0..=255).filter_map(|n| CommandType::try_from(n).ok()).collect();
    assert_eq!(cmds.len(), 22);
    for c in cmds {
        assert_eq!(CommandType::from_str_name(c.as_str_name()), Some(c));
    }

    assert_eq!(OpType::Expire as i32, 56);
    assert_eq!(OpType::CheckShutup as i32, 190);
    assert_eq!(OpType::from_str_name("query_result"), Some(OpType::QueryResult));
    assert_eq!(CommandType::Goaway as i32, 21);
    assert_eq!(CommandType::Session.as_str_name(), "session");
    assert_eq!(StatusType::Off as i32, 2);
    assert_eq!(DeviceType::Ios as i32, 2);
    assert_eq!(QueryDirection::from_str_name("NEW"), Some(QueryDirection::New));
}

#[test]
fn missing_required_fields_decode_as_defaults() {
    // prost does not enforce `required` on decode: an empty ErrorCommand
    // decodes to code 0 / reason "" instead of failing.
    let err = ErrorCommand::decode(&[][..]).unwrap();
    assert_eq!((err.code, err.reason.as_str()), (0, ""));
}
