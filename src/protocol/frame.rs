//! Frames ↔ commands, and builders for the commands the server sends.
//!
//! A frame is one encoded [`GenericCommand`]: raw bytes in a binary WebSocket message
//! (`lc.protobuf2.*`) or standard base64 of them in a text message (`lc.proto2base64.*`).
//! Pushes are encoded once and shared by every recipient; [`with_peer_id`] adds the
//! recipient's `peerId` without encoding again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message as _;

use super::{CommandType, ErrorCommand, GenericCommand, OpType};
use crate::error::ImError;

/// `service` value of IM commands (0 is push, 1 LiveQuery).
pub const SERVICE_IM: i32 = 2;

/// How a socket's frames are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `lc.protobuf2.*`: binary WebSocket messages.
    Binary,
    /// `lc.proto2base64.*`: text WebSocket messages holding base64.
    Base64,
}

/// A frame that is not a command.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not a GenericCommand: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

pub fn decode_binary(bytes: &[u8]) -> Result<GenericCommand, DecodeError> {
    Ok(GenericCommand::decode(bytes)?)
}

pub fn decode_text(text: &str) -> Result<GenericCommand, DecodeError> {
    decode_binary(&STANDARD.decode(text.trim())?)
}

pub fn encode(cmd: &GenericCommand) -> Bytes {
    let mut buf = BytesMut::with_capacity(cmd.encoded_len());
    cmd.encode(&mut buf).expect("BytesMut grows as needed");
    buf.freeze()
}

/// Base64 text of an encoded frame, for `lc.proto2base64.*` sockets.
pub fn to_base64(frame: &[u8]) -> String {
    STANDARD.encode(frame)
}

/// `frame` with `peerId` (field 4) appended. Protobuf lets a later occurrence of a field
/// override an earlier one, so this works on any encoded command.
pub fn with_peer_id(frame: &[u8], peer: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(frame.len() + peer.len() + 6);
    buf.put_slice(frame);
    buf.put_u8(0x22); // field 4, wire type 2 (length-delimited)
    prost::encoding::encode_varint(peer.len() as u64, &mut buf);
    buf.put_slice(peer.as_bytes());
    buf.freeze()
}

/// A command with `cmd` and `op` set.
pub fn command(cmd: CommandType, op: Option<OpType>) -> GenericCommand {
    GenericCommand { cmd: Some(cmd as i32), op: op.map(|op| op as i32), ..Default::default() }
}

/// The reply to a request carrying `i`.
pub fn reply(i: Option<i32>, cmd: CommandType, op: Option<OpType>) -> GenericCommand {
    GenericCommand { i, ..command(cmd, op) }
}

/// A server push (no `i`, `service = 2`).
pub fn push(cmd: CommandType, op: Option<OpType>, server_ts: Option<i64>) -> GenericCommand {
    GenericCommand { service: Some(SERVICE_IM), server_ts, ..command(cmd, op) }
}

/// An `error` command answering the request `i` (or connection-level without `i`). The
/// reason is [`Code::wire_reason`](crate::error::Code::wire_reason).
pub fn error(i: Option<i32>, err: &ImError) -> GenericCommand {
    GenericCommand {
        error_message: Some(ErrorCommand {
            code: err.code.number(),
            reason: err.code.wire_reason().to_string(),
            detail: err.detail.clone(),
            ..Default::default()
        }),
        ..reply(i, CommandType::Error, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use crate::protocol::SessionCommand;

    #[test]
    fn binary_and_base64_carry_the_same_command() {
        let mut cmd = reply(Some(7), CommandType::Session, Some(OpType::Opened));
        cmd.session_message = Some(SessionCommand { st: Some("token".into()), ..Default::default() });
        let bytes = encode(&cmd);
        assert_eq!(decode_binary(&bytes).unwrap(), cmd);
        assert_eq!(decode_text(&to_base64(&bytes)).unwrap(), cmd);
        assert!(decode_text("not base64!").is_err());
        assert!(decode_binary(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn peer_id_is_added_to_an_encoded_push() {
        let frame = encode(&push(CommandType::Direct, None, Some(1)));
        let cmd = decode_binary(&with_peer_id(&frame, "bob")).unwrap();
        assert_eq!(cmd.peer_id.as_deref(), Some("bob"));
        assert_eq!(cmd.service, Some(SERVICE_IM));
        assert_eq!(cmd.i, None);
    }

    #[test]
    fn errors_carry_code_symbolic_reason_and_detail() {
        let cmd = error(Some(3), &ImError::with_detail(Code::InvalidMessagingTarget, "not a member"));
        let decoded = decode_binary(&encode(&cmd)).unwrap();
        let err = decoded.error_message.unwrap();
        assert_eq!((decoded.cmd, decoded.i), (Some(CommandType::Error as i32), Some(3)));
        assert_eq!((err.code, err.reason.as_str()), (4401, "INVALID_MESSAGING_TARGET"));
        assert_eq!(err.detail.as_deref(), Some("not a member"));
        let expired = decode_binary(&encode(&error(Some(4), &ImError::new(Code::TemporaryConversationExpired))))
            .unwrap()
            .error_message
            .unwrap();
        assert_eq!((expired.code, expired.reason.as_str(), expired.detail), (4323, "", None));
    }
}
