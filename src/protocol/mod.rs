//! Wire types of the LeanCloud IM WebSocket protocol (spec/wire-protocol.md §4).
//!
//! These are hand-written [`prost`] types for LeanCloud's
//! `push_server.messages2` schema (no `build.rs`, no `protoc`). The schema is
//! the superset of the JS SDK's `.proto` (the base) and the additions found
//! only in the Java/Swift/ObjC copies (`LoginCommand`, `LoggedinCommand`,
//! `SystemInfo` and friends, `SessionCommand.systemInfo`,
//! `ConvCommand.existing`, `OpType::Expire`). Package names never reach the
//! wire, so they are not modelled.
//!
//! Every frame is exactly one [`GenericCommand`]; the payload travels in the
//! `*_message` field matching its `cmd`.
//!
//! Conventions:
//! * The schema is proto2. `optional` fields are `Option<T>`, so "absent" and
//!   "explicitly set to the default" stay distinguishable and a value that was
//!   set is always written back out, even when it is `0`, `false` or `""`.
//!   `required` fields are plain values and are always encoded (the JS client
//!   drops frames that miss one); prost does not enforce them on decode, a
//!   missing one just reads as the default. `repeated` fields are `Vec<T>`; proto2 does
//!   not pack repeated scalars, and the only repeated scalars here are strings.
//! * Enum-typed fields are stored as `Option<i32>`, which is what prost does
//!   for enumerations: a number this code does not know (a newer server or
//!   client) survives decoding instead of failing the frame. Use the
//!   generated accessors (`cmd()`, `set_cmd(..)`, `op()`, …) for typed access;
//!   they map unset or unknown values to the enum's first variant (or to the
//!   proto default, see [`LogsCommand::direction`]).
//! * Unknown field numbers are skipped while decoding, but prost does not keep
//!   them: re-encoding a decoded message drops them.
//! * Protobuf merges repeated occurrences of a field (last scalar wins,
//!   sub-messages merge), so a field can be overridden by appending its
//!   encoding to an already-encoded frame.
//! * Sub-messages are stored inline (not boxed), so a [`GenericCommand`] is a
//!   few KiB; move it around boxed if that matters.

/// Adds `as_str_name` / `from_str_name` to an enum, using the names of the
/// proto file (the names the JSON/REST side of the protocol uses, e.g.
/// `"query_result"`). The `match` is exhaustive, so every variant must be
/// listed.
macro_rules! proto_names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// The value's name as written in the `.proto` file.
            pub fn as_str_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Looks a value up by its `.proto` name.
            pub fn from_str_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

pub mod frame;

mod conv;
mod envelope;
mod message;
mod other;
mod session;

pub use conv::*;
pub use envelope::*;
pub use message::*;
pub use other::*;
pub use session::*;

#[cfg(test)]
mod tests;
