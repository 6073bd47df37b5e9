//! A text WebSocket message (`lc.proto2base64.*`): base64 of a frame, as the socket task
//! decodes it.
//!
//! Decoding must never panic; a message that decodes must mean the same command as the
//! binary frame its base64 stands for.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use xinshi::protocol::frame;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cmd) = frame::decode_text(text) else { return };
    let bytes = STANDARD.decode(text.trim()).expect("decode_text accepted it as base64");
    assert_eq!(frame::decode_binary(&bytes).expect("the same bytes decode as binary"), cmd);
    let again = frame::decode_text(&frame::to_base64(&frame::encode(&cmd))).expect("re-encoded text decodes");
    assert_eq!(again, cmd, "re-encoding changed the command");
});
