//! `GET /1.1/classes/_ConversationMemberInfo?where={"cid": …}` (F-ROLE-INFO,
//! spec/leancloud-im.md §2.5, §6.1): the member roles of one conversation, as the SDKs'
//! `getAllMemberInfo` / `getMemberInfo` read them.
//!
//! - Credentials: `X-LC-Id` with the App Key (or a signature) and the client's IM session
//!   token in `X-LC-IM-Session-Token` (401 / 4112 otherwise). The client is the token's; a
//!   `client_id` parameter (the JS SDK sends one) must name the same client.
//! - `where` must name the conversation (`cid`), and may name a `clientId`; anything else in
//!   it is ignored. Only members of the conversation are answered (403, 4317); an unknown
//!   conversation has no rows.
//! - `{"results": [{objectId, cid, clientId, role, createdAt, updatedAt}]}`: a row for the
//!   Owner (the creator) and one per Manager, in that order, paged by `skip` and `limit`
//!   (default 100, at most 1000). A member without a row is a `Member`, as on LeanCloud.
//!   `objectId` (the "info id") is derived from the conversation and client ids, so it is
//!   stable. The rows are the same whether `[features] member_roles` is on or not: with it
//!   off there are no Managers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rest::{authorized, header, unauthorized};
use super::{AppState, json_error};
use crate::clock::iso8601;
use crate::conversation::roles::Role;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct MemberInfoQuery {
    #[serde(rename = "where")]
    where_: Option<String>,
    client_id: Option<String>,
    limit: Option<usize>,
    skip: Option<usize>,
}

pub async fn member_info(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<MemberInfoQuery>,
) -> HttpResponse {
    let node = state.node.clone();
    if !authorized(&req, &node) {
        return unauthorized();
    }
    let token = header(&req, "x-lc-im-session-token").unwrap_or_default().to_owned();
    let named = query.client_id.clone();
    let client = node
        .blocking(move |node| {
            let now = node.now_ms();
            Ok(match named {
                Some(client) => node.check_token(&token, &client, now).map(|_| client),
                None => node.token_client(&token, now),
            })
        })
        .await;
    let Ok(Some(client)) = client else {
        return json_error(StatusCode::UNAUTHORIZED, 4112, "SESSION_TOKEN_EXPIRED");
    };
    let cond: Value = query.where_.as_deref().and_then(|w| serde_json::from_str(w).ok()).unwrap_or(Value::Null);
    let Some(cid) = cond.get("cid").and_then(Value::as_str).map(str::to_owned) else {
        return json_error(StatusCode::BAD_REQUEST, 1, "where must name the conversation: {\"cid\": …}");
    };
    let only = cond.get("clientId").and_then(Value::as_str).map(str::to_owned);
    let (skip, limit) = (query.skip.unwrap_or(0), query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT));
    let found = node.blocking(move |node| Ok(node.store.conversation(&cid)?.map(|record| (cid, record)))).await;
    let (cid, record) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return HttpResponse::Ok().json(json!({ "results": [] })),
        Err(err) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, err.code.number(), err.code.reason()),
    };
    if record.members.binary_search(&client).is_err() {
        return json_error(StatusCode::FORBIDDEN, 4317, "CONVERSATION_MEMBERSHIP_REQUIRED");
    }
    let owner = std::iter::once((record.creator.as_str(), Role::Owner));
    let managers = record.managers.iter().map(|m| (m.as_str(), Role::Manager));
    let row = |(member, role): (&str, Role)| {
        json!({
            "objectId": info_id(&cid, member),
            "cid": cid,
            "clientId": member,
            "role": role.as_str(),
            "createdAt": iso8601(record.created_ms),
            "updatedAt": iso8601(record.updated_ms),
        })
    };
    let rows: Vec<Value> = owner
        .chain(managers)
        .filter(|(member, _)| only.as_deref().is_none_or(|c| c == *member))
        .skip(skip)
        .take(limit)
        .map(row)
        .collect();
    HttpResponse::Ok().json(json!({ "results": rows }))
}

/// The stable id of `client`'s member-info row in `cid`: 24 hex digits, like an objectId.
fn info_id(cid: &str, client: &str) -> String {
    Md5::digest(format!("{cid}:{client}")).iter().take(12).map(|b| format!("{b:02x}")).collect()
}
