//! A binary WebSocket message (`lc.protobuf2.*`) as the socket task decodes it.
//!
//! Decoding must never panic. A frame that decodes must survive re-encoding unchanged, in
//! binary and in base64, and `with_peer_id` (used on every push) must set `peerId` on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinshi::protocol::frame;

fuzz_target!(|data: &[u8]| {
    let Ok(cmd) = frame::decode_binary(data) else { return };
    // The typed accessors map unknown enum numbers instead of failing.
    let _ = (cmd.cmd(), cmd.op());
    let bytes = frame::encode(&cmd);
    let again = frame::decode_binary(&bytes).expect("an encoded command decodes");
    assert_eq!(again, cmd, "re-encoding changed the command");
    assert_eq!(frame::decode_text(&frame::to_base64(&bytes)).expect("base64 of a frame decodes"), cmd);
    let pushed = frame::decode_binary(&frame::with_peer_id(&bytes, "peer")).expect("with_peer_id keeps it a frame");
    assert_eq!(pushed.peer_id.as_deref(), Some("peer"));
    assert_eq!(pushed.cmd, cmd.cmd);
});
