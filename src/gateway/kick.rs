//! Forced offline (F-KICK, spec/leancloud-im.md §3.9), a master-key call:
//!
//! - `POST /1.2/rtm/clients/{client_id}/kick` with `{"reason": "…"}`
//! - `POST /1.1/rtm/client/kick` with `{"client_id": "…", "reason": "…"}` (legacy)
//!
//! The kick is stored first (a restart must not revive what it voided). Then every online
//! session of the client gets `session/closed {code: 4115, reason}` and ends; its session
//! tokens are revoked and signatures made for it until now stop working, so an app that stops
//! signing for a user and then kicks it keeps it out. Answers `{}`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::rest::{Key, credential, unauthorized};
use super::{AppState, json_error};
use crate::error::{Code, ImError};
use crate::node::Node;

/// Longest reason passed on (LeanCloud allowed 20 characters).
const MAX_REASON_CHARS: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct KickBody {
    client_id: Option<String>,
    reason: Option<String>,
}

/// `POST /1.2/rtm/clients/{client_id}/kick`.
pub async fn kick(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<KickBody>>,
) -> HttpResponse {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    answer(&req, &state.node, Some(path.into_inner()), body.reason).await
}

/// `POST /1.1/rtm/client/kick`.
pub async fn kick_legacy(req: HttpRequest, state: web::Data<AppState>, body: web::Json<KickBody>) -> HttpResponse {
    let body = body.into_inner();
    answer(&req, &state.node, body.client_id, body.reason).await
}

async fn answer(req: &HttpRequest, node: &Arc<Node>, client: Option<String>, reason: Option<String>) -> HttpResponse {
    if credential(req, node) != Some(Key::Master) {
        return unauthorized();
    }
    let Some(client) = client.filter(|c| !c.is_empty()) else {
        return json_error(StatusCode::BAD_REQUEST, 1, "client_id is required");
    };
    let reason = reason.map(|r| r.chars().take(MAX_REASON_CHARS).collect::<String>());
    match kick_client(node, &client, reason).await {
        Ok(()) => HttpResponse::Ok().json(json!({})),
        Err(err) => json_error(StatusCode::INTERNAL_SERVER_ERROR, err.code.number(), err.code.reason()),
    }
}

/// Records the kick, then ends every session of `client` with 4115 and revokes its
/// credentials.
pub async fn kick_client(node: &Arc<Node>, client: &str, reason: Option<String>) -> Result<(), ImError> {
    let now = node.now_ms();
    let kicked = client.to_owned();
    node.blocking(move |node| Ok(node.store.record_kick(&kicked, now)?)).await?;
    node.tokens.revoke(client, now, crate::services::token::kick_memory_ms(&node.config));
    if let Some(peers) = node.presence.peers() {
        peers.kick(client, now, reason.as_deref());
    }
    for session in node.presence.sessions(client) {
        session.control.close_session(Code::KickedByApp, reason.clone());
    }
    Ok(())
}
