//! The key schema. Every key is a tuple whose first element names the record kind, so each
//! kind is one contiguous range and each conversation's rows sit together.
//!
//! | key | value |
//! |---|---|
//! | `("conv", cid)` | [`ConvRecord`](super::records::ConvRecord) |
//! | `("own", cid)` | the owner epoch, u64 big-endian ([`owner`](super::owner)) |
//! | `("node",)` | the last node id handed out, u64 big-endian |
//! | `("secret", "st")` | the secret session tokens are signed with ([`token`](super::token)) |
//! | `("stend", tokenId)`, `("stendx", expiresMs, tokenId)` | session tokens ended by a logout, until they expire |
//! | `("uniq", uniqueId)` | cid of the unique conversation with that member set |
//! | `("tmpu", uniqueId)` | cid of the newest temporary conversation with that member set ([`temp`](super::temp)) |
//! | `("tmpx", expiresMs, cid)` | empty: temporary conversation cid expires then (the sweep's index) |
//! | `("cm", clientId, cid)` | empty: the client is a member of cid |
//! | `("msg", cid, seq)` | [`MsgRecord`](super::records::MsgRecord), seq from 1, no gaps |
//! | `("dt", cid, from, dt)` | seq of the message `from` sent with client token `dt` |
//! | `("cur", cid, clientId)` | [`Cursor`](super::records::Cursor): read/delivered marks |
//! | `("ntf", clientId, serverTs, n)` | a kept notification, JSON text ([`notif`](super::notif)) |
//! | `("bl", cid, clientId)`, `("blc", clientId, cid)` | blacklists ([`blacklist`](super::blacklist)) |
//! | `("kick", clientId)` | time of the client's last forced logout ([`kick`](super::kick)) |

use super::tuple::Tuple;

pub fn conv(cid: &str) -> Vec<u8> {
    Tuple::new().str("conv").str(cid).into_bytes()
}

/// The last node id handed out ([`Store::node_id`](super::Store::node_id)).
pub fn node_ids() -> Vec<u8> {
    Tuple::new().str("node").into_bytes()
}

pub fn owner(cid: &str) -> Vec<u8> {
    Tuple::new().str("own").str(cid).into_bytes()
}

pub fn all_convs() -> Vec<u8> {
    Tuple::new().str("conv").into_bytes()
}

pub fn unique(unique_id: &str) -> Vec<u8> {
    Tuple::new().str("uniq").str(unique_id).into_bytes()
}

pub fn temp_unique(unique_id: &str) -> Vec<u8> {
    Tuple::new().str("tmpu").str(unique_id).into_bytes()
}

pub fn temp_expiry(expires_ms: i64, cid: &str) -> Vec<u8> {
    Tuple::new().str("tmpx").u64(expires_ms.max(0) as u64).str(cid).into_bytes()
}

/// The start of the expiry index; [`temp_expiry`] keys of expiries before `ms` sort below
/// `temp_expiries_before(ms)`.
pub fn temp_expiries() -> Vec<u8> {
    Tuple::new().str("tmpx").into_bytes()
}

pub fn temp_expiries_before(ms: i64) -> Vec<u8> {
    Tuple::new().str("tmpx").u64(ms.max(0) as u64).into_bytes()
}

pub fn client_conv(client: &str, cid: &str) -> Vec<u8> {
    Tuple::new().str("cm").str(client).str(cid).into_bytes()
}

pub fn client_convs(client: &str) -> Vec<u8> {
    Tuple::new().str("cm").str(client).into_bytes()
}

pub fn msg(cid: &str, seq: u64) -> Vec<u8> {
    Tuple::new().str("msg").str(cid).u64(seq).into_bytes()
}

pub fn msgs(cid: &str) -> Vec<u8> {
    Tuple::new().str("msg").str(cid).into_bytes()
}

pub fn dedup(cid: &str, from: &str, dt: &str) -> Vec<u8> {
    Tuple::new().str("dt").str(cid).str(from).str(dt).into_bytes()
}

/// Prefix of `cid`'s de-duplication entries.
pub fn dedups(cid: &str) -> Vec<u8> {
    Tuple::new().str("dt").str(cid).into_bytes()
}

pub fn cursor(cid: &str, client: &str) -> Vec<u8> {
    Tuple::new().str("cur").str(cid).str(client).into_bytes()
}

/// Prefix of `cid`'s cursors.
pub fn cursors(cid: &str) -> Vec<u8> {
    Tuple::new().str("cur").str(cid).into_bytes()
}
