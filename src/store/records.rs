//! Stored values, encoded as MessagePack maps (field names kept, so fields can be added
//! later without breaking old rows; every field has a default).

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::StoreError;

/// A conversation (`_Conversation` row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvRecord {
    /// Creator (`c`).
    pub creator: String,
    /// Members (`m`), sorted.
    pub members: Vec<String>,
    /// Attributes given at creation (`name` and custom keys), as a JSON object text.
    pub attrs: String,
    /// Created through the unique path (`unique`).
    pub unique: bool,
    /// Id of the member set (`uniqueId`) for unique conversations.
    pub unique_id: Option<String>,
    /// Chat room (`tr`).
    pub transient: bool,
    /// Members who muted offline push (`mu`).
    pub muted: Vec<String>,
    /// Clients who may not send here (permanently muted, "shutup"), sorted.
    pub silenced: Vec<String>,
    /// Members with the `Manager` role, sorted (the creator is the `Owner`; everyone else a
    /// `Member`). Kept only while `features.member_roles` is on.
    pub managers: Vec<String>,
    /// A temporary conversation (`_tmp:` id, F-CONV-TEMP).
    pub temp: bool,
    /// When a temporary conversation expires, ms (0 for the others).
    pub expires_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A stored message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MsgRecord {
    /// Message id (22-character base64url).
    pub mid: String,
    pub from: String,
    /// Server timestamp, ms; never decreases along a conversation's sequence.
    pub ts: i64,
    /// Text content (`msg`), if the message is not binary.
    pub data: Option<String>,
    /// Binary content (`binaryMsg`).
    #[serde(with = "serde_bytes_opt")]
    pub bin: Option<Vec<u8>>,
    /// The sender's client token (`dt`), for de-duplicating resends.
    pub dt: Option<String>,
    /// The sender asked for delivery receipts (`r`).
    pub receipt: bool,
    pub mention_all: bool,
    pub mention_pids: Vec<String>,
    /// `_lctype` of a typed message, for the history type filter.
    pub lctype: Option<i32>,
    /// Last modification time, ms.
    pub patch_ts: Option<i64>,
}

/// A member's marks in one conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    /// Everything up to this seq has been read (or sent) by the member.
    pub read_seq: u64,
    /// Timestamp of the message at `read_seq`.
    pub read_ts: i64,
    /// Server time the read mark last moved.
    pub read_at: i64,
    /// Everything up to this seq has been delivered to (acknowledged by) the member.
    pub ack_seq: u64,
    /// Server time the delivered mark last moved.
    pub ack_at: i64,
    /// Newest seq that mentions the member.
    pub mention_seq: u64,
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("records always serialize")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Binary content as a MessagePack bin rather than an array of integers.
mod serde_bytes_opt {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_bytes(bytes),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Option<Vec<u8>>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes or nil")
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_bytes(self)
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Some(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Some(out))
            }
        }
        d.deserialize_option(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let msg = MsgRecord {
            mid: "m".into(),
            from: "alice".into(),
            ts: 5,
            bin: Some(vec![0, 1, 255]),
            mention_pids: vec!["bob".into()],
            ..Default::default()
        };
        assert_eq!(decode::<MsgRecord>(&encode(&msg)).unwrap(), msg);
        let text = MsgRecord { data: Some("hi".into()), ..Default::default() };
        assert_eq!(decode::<MsgRecord>(&encode(&text)).unwrap(), text);
        let cursor = Cursor { read_seq: 3, ack_seq: 2, ..Default::default() };
        assert_eq!(decode::<Cursor>(&encode(&cursor)).unwrap(), cursor);
    }

    #[test]
    fn missing_fields_take_defaults() {
        #[derive(Serialize)]
        struct Old {
            mid: String,
        }
        let old = rmp_serde::to_vec_named(&Old { mid: "x".into() }).unwrap();
        let msg: MsgRecord = decode(&old).unwrap();
        assert_eq!(msg.mid, "x");
        assert_eq!(msg.bin, None);
    }
}
