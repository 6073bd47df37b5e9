//! `conv/is_member {cids}` (spec/leancloud-im.md §4.7): which of the named conversations the
//! caller is a member of, answered `is_member {results: {"<cid>": true|false}}` (the reply's
//! op is not documented; the SDKs read only `results`). Answered from the store's
//! membership rows, which every membership change writes before it is answered. At most
//! [`MAX_CIDS`] ids per request (4310 beyond); unknown ids are `false`.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::delivery::Reply;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, JsonObjectMessage, OpType};
use crate::services::Services;

/// Most conversation ids one `is_member` may name.
pub const MAX_CIDS: usize = 100;

pub async fn is_member(node: &Arc<Services>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    let mut cids: Vec<String> = conv.cids.into_iter().chain(conv.cid).filter(|c| !c.is_empty()).collect();
    cids.dedup();
    if cids.len() > MAX_CIDS {
        return reply.error(&im_err!(ConversationQueryFailed, "at most {MAX_CIDS} conversation ids at once"));
    }
    let client = client.clone();
    let found = node
        .blocking(move |node| {
            let mut results = Map::new();
            for cid in cids {
                let member = node.store.is_member(&client, &cid)?;
                results.insert(cid, Value::Bool(member));
            }
            Ok(Value::Object(results).to_string())
        })
        .await;
    reply.result(found.map(|data| GenericCommand {
        conv_message: Some(ConvCommand { results: Some(JsonObjectMessage { data }), ..Default::default() }),
        ..frame::command(CommandType::Conv, Some(OpType::IsMember))
    }));
}
