//! REST endpoints the SDKs call on their own (spec/leancloud-im.md §9.9).
//!
//! `GET /1.1/rtm/notifications?client_id=…&start_ts=…[&notification_type=permanent]`, with
//! `X-LC-Id`, `X-LC-Key` (or `X-LC-Sign`) and `X-LC-IM-Session-Token`: the conversation
//! events kept for the client since `start_ts`, which the SDKs replay after a reconnect.
//! With `notification_type=permanent` (JS) the answer is `{notifications, hasMore}`;
//! without (Swift) it is `{permanent: {notifications}, droppable: {notifications}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, json_error};
use crate::config::AppConfig;
use crate::node::Node;

/// Most notifications per answer; the SDK asks again while `hasMore`.
const PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub struct NotificationsQuery {
    client_id: String,
    start_ts: Option<i64>,
    notification_type: Option<String>,
}

pub async fn notifications(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NotificationsQuery>,
) -> HttpResponse {
    let node = state.node.clone();
    if !authorized(&req, &node) {
        return unauthorized();
    }
    let token = header(&req, "x-lc-im-session-token").unwrap_or_default().to_owned();
    let client = query.client_id.clone();
    let granted = node.blocking(move |node| Ok(node.check_token(&token, &client, node.now_ms()))).await;
    if !matches!(granted, Ok(Some(_))) {
        return json_error(StatusCode::UNAUTHORIZED, 4112, "SESSION_TOKEN_EXPIRED");
    }
    let query = query.into_inner();
    let client = query.client_id.clone();
    // Kept notifications expire after `notification_ttl_secs`, even before the sweep.
    let ttl_ms = node.config.limits.notification_ttl_secs.saturating_mul(1000) as i64;
    let after = query.start_ts.unwrap_or(0).max(node.now_ms().saturating_sub(ttl_ms));
    let found = node.blocking(move |node| Ok(node.store.notifications(&client, after, PAGE)?)).await;
    let (bodies, more) = match found {
        Ok(found) => found,
        Err(err) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, err.code.number(), err.code.reason()),
    };
    let list: Vec<Value> = bodies.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
    if query.notification_type.as_deref() == Some("permanent") {
        HttpResponse::Ok().json(json!({ "notifications": list, "hasMore": more }))
    } else {
        HttpResponse::Ok().json(json!({
            "permanent": { "notifications": list, "hasMore": more },
            "droppable": { "notifications": [] },
        }))
    }
}

pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Which key a REST call presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The App Key: client-side calls.
    App,
    /// The Master Key: server-side (admin) calls.
    Master,
}

/// Checks LeanCloud's REST credentials: `X-LC-Id` plus either `X-LC-Key: <appKey>` /
/// `X-LC-Key: <masterKey>,master`, or `X-LC-Sign: md5(timestamp + key),timestamp[,master]`
/// whose timestamp (milliseconds) is within `security.rest_sign_window_secs` of our clock,
/// so a captured signature stops working soon.
pub fn credential(req: &HttpRequest, node: &Node) -> Option<Key> {
    let window_ms = node.config.security.rest_sign_window_secs as i64 * 1000;
    credential_at(req, &node.config.app, node.now_ms(), window_ms)
}

/// [`credential`] at time `now_ms`.
pub fn credential_at(req: &HttpRequest, app: &AppConfig, now_ms: i64, window_ms: i64) -> Option<Key> {
    if header(req, "x-lc-id") != Some(app.id.as_str()) {
        return None;
    }
    if let Some(key) = header(req, "x-lc-key") {
        if key.strip_suffix(",master") == Some(app.master_key.as_str()) {
            return Some(Key::Master);
        }
        return (key == app.key).then_some(Key::App);
    }
    let sign = header(req, "x-lc-sign")?;
    let mut parts = sign.split(',');
    let (digest, timestamp) = (parts.next()?, parts.next()?);
    let (key, kind) =
        if parts.next() == Some("master") { (&app.master_key, Key::Master) } else { (&app.key, Key::App) };
    let made: i64 = timestamp.trim().parse().ok()?;
    if now_ms.abs_diff(made) > window_ms.unsigned_abs() {
        return None;
    }
    let expected: String = Md5::digest(format!("{timestamp}{key}")).iter().map(|b| format!("{b:02x}")).collect();
    digest.eq_ignore_ascii_case(&expected).then_some(kind)
}

/// Any valid credential (app key or master key).
pub fn authorized(req: &HttpRequest, node: &Node) -> bool {
    credential(req, node).is_some()
}

/// The 401 answer for calls without a valid credential.
pub fn unauthorized() -> HttpResponse {
    json_error(StatusCode::UNAUTHORIZED, 401, "Unauthorized.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn app() -> AppConfig {
        AppConfig { id: "app".into(), key: "key".into(), master_key: "master".into() }
    }

    #[test]
    fn accepts_the_app_key_the_master_key_and_signatures() {
        let ok = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::get();
            for h in headers {
                req = req.insert_header(*h);
            }
            credential_at(&req.to_http_request(), &app(), NOW, WINDOW).is_some()
        };
        assert!(ok(&[("X-LC-Id", "app"), ("X-LC-Key", "key")]));
        assert!(ok(&[("X-LC-Id", "app"), ("X-LC-Key", "master,master")]));
        let sign: String = Md5::digest("1700000000000key").iter().map(|b| format!("{b:02x}")).collect();
        assert!(ok(&[("X-LC-Id", "app"), ("X-LC-Sign", &format!("{sign},1700000000000"))]));
        assert!(!ok(&[("X-LC-Id", "app"), ("X-LC-Sign", &format!("{sign},1700000000000,master"))]));
        assert!(!ok(&[("X-LC-Id", "app"), ("X-LC-Key", "master")]));
        let master = TestRequest::get().insert_header(("X-LC-Id", "app")).insert_header(("X-LC-Key", "master,master"));
        assert_eq!(credential_at(&master.to_http_request(), &app(), NOW, WINDOW), Some(Key::Master));
        assert!(!ok(&[("X-LC-Id", "other"), ("X-LC-Key", "key")]));
        assert!(!ok(&[("X-LC-Key", "key")]));
    }

    #[test]
    fn a_signature_is_good_only_near_its_timestamp() {
        let signed = |ts: i64| {
            let sign: String = Md5::digest(format!("{ts}master")).iter().map(|b| format!("{b:02x}")).collect();
            let req = TestRequest::get().insert_header(("X-LC-Id", "app"));
            let req = req.insert_header(("X-LC-Sign", format!("{sign},{ts},master")));
            credential_at(&req.to_http_request(), &app(), NOW, WINDOW)
        };
        assert_eq!(signed(NOW - WINDOW), Some(Key::Master));
        assert_eq!(signed(NOW + WINDOW), Some(Key::Master));
        assert_eq!(signed(NOW - WINDOW - 1), None, "too old: a replay");
        assert_eq!(signed(NOW + WINDOW + 1), None, "from the future");
        assert_eq!(signed(946_684_800_000), None, "2000-01-01");
    }

    const NOW: i64 = 1_700_000_000_000;
    const WINDOW: i64 = 15 * 60 * 1000;
}
