//! The WebSocket handshake: pick the subprotocol, upgrade, start the socket task.
//!
//! The SDKs offer one of the subprotocols below in `Sec-WebSocket-Protocol` and refuse the
//! connection unless the server names it back. Old WeChat builds cannot set the header and
//! pass `?subprotocol=…` instead; then nothing is echoed (the client asked for nothing).
//! Anything else — including the `.1` offline-push variants, not built yet — is refused
//! with HTTP 400 and a JSON body saying what is supported.
//!
//! Two more gates (spec/leancloud-im.md §2.4, §7.4):
//! - More than `limits.max_connections` open sockets: HTTP 503 with a JSON body.
//! - With `security.allowed_origins` set, a browser whose `Origin` is not listed gets the
//!   WebSocket and then at once close code 4110 INVALID_ORIGIN, which the SDKs treat as
//!   fatal (no reconnect). Requests without `Origin` (native SDKs, Node) pass.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason};

use super::guard::FrameGuard;
use super::{AppState, json_error, socket};
use crate::error::Code;
use crate::node::Node;
use crate::protocol::frame::Format;

/// Subprotocols served, with their frame format.
pub const SUBPROTOCOLS: &[(&str, Format)] =
    &[("lc.protobuf2.3", Format::Binary), ("lc.proto2base64.3", Format::Base64)];

/// How the subprotocol was chosen.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// Offered in the header: echo it.
    Header(&'static str, Format),
    /// Given as `?subprotocol=`: echo nothing.
    Query(Format),
}

fn choose(req: &HttpRequest) -> Result<Choice, String> {
    let offered: Vec<String> = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    for name in &offered {
        if let Some((known, format)) = SUBPROTOCOLS.iter().find(|(known, _)| known == name) {
            return Ok(Choice::Header(known, *format));
        }
    }
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("subprotocol").cloned());
    if offered.is_empty()
        && let Some((_, format)) = query.as_deref().and_then(|q| SUBPROTOCOLS.iter().find(|(known, _)| *known == q))
    {
        return Ok(Choice::Query(*format));
    }
    let supported: Vec<&str> = SUBPROTOCOLS.iter().map(|(name, _)| *name).collect();
    let asked = if offered.is_empty() { query.into_iter().collect() } else { offered };
    Err(format!("unsupported subprotocol {asked:?}; supported: {supported:?}"))
}

/// Whether `origin` (`scheme://host[:port]`) is allowed: listed as is, or by host alone.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    let host = origin.split_once("://").map_or(origin, |(_, host)| host);
    allowed.is_empty()
        || allowed
            .iter()
            .map(|a| a.trim().trim_end_matches('/'))
            .any(|a| a.eq_ignore_ascii_case(origin) || a.eq_ignore_ascii_case(host))
}

/// Upgrades the request and spawns the socket task on this worker.
pub async fn upgrade(req: HttpRequest, body: web::Payload, state: Arc<AppState>) -> HttpResponse {
    let choice = match choose(&req) {
        Ok(choice) => choice,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, 400, &why),
    };
    let node = &state.node;
    let Some(slot) = Slot::take(node) else {
        let max = node.config.limits.max_connections;
        return json_error(StatusCode::SERVICE_UNAVAILABLE, 503, &format!("too many connections (limit {max})"));
    };
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
    let refused = !origin_allowed(&node.config.security.allowed_origins, origin);
    // Frame sizes are checked at each header, before actix-ws buffers the payload.
    let mut guarded = FrameGuard::payload(body, node.config.limits.max_frame_bytes);
    let body = match web::Payload::from_request(&req, &mut guarded).await {
        Ok(body) => body,
        Err(err) => return json_error(StatusCode::BAD_REQUEST, 400, &err.to_string()),
    };
    let (mut response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(err) => return json_error(StatusCode::BAD_REQUEST, 400, &err.to_string()),
    };
    let format = match choice {
        Choice::Header(name, format) => {
            response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(name));
            format
        }
        Choice::Query(format) => format,
    };
    let peer = req.peer_addr();
    if refused {
        tracing::info!(?peer, ?origin, "websocket from an origin not allowed");
        let reason = CloseReason { code: CloseCode::Other(Code::InvalidOrigin.number() as u16), description: None };
        actix_web::rt::spawn(session.close(Some(reason)));
        return response;
    }
    actix_web::rt::spawn(socket::run(state.node.clone(), session, stream, format, peer, slot));
    response
}

/// One of the `max_connections` places, held by a socket task while it runs.
pub struct Slot(Arc<Node>);

impl Slot {
    fn take(node: &Arc<Node>) -> Option<Slot> {
        let max = node.config.limits.max_connections;
        let taken = node.connections.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        taken.ok().map(|_| Slot(node.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn pick(header: Option<&str>, uri: &str) -> Result<Choice, String> {
        let mut req = TestRequest::get().uri(uri);
        if let Some(header) = header {
            req = req.insert_header((SEC_WEBSOCKET_PROTOCOL, header));
        }
        choose(&req.to_http_request())
    }

    #[test]
    fn picks_the_first_supported_offer() {
        assert_eq!(pick(Some("lc.protobuf2.3"), "/"), Ok(Choice::Header("lc.protobuf2.3", Format::Binary)));
        assert_eq!(
            pick(Some("lc.protobuf2.1, lc.proto2base64.3"), "/"),
            Ok(Choice::Header("lc.proto2base64.3", Format::Base64))
        );
        assert_eq!(pick(None, "/?subprotocol=lc.protobuf2.3"), Ok(Choice::Query(Format::Binary)));
    }

    #[test]
    fn origins_match_in_full_or_by_host() {
        let allowed = vec!["https://app.example.com".to_string(), "web.example.org".to_string()];
        assert!(origin_allowed(&allowed, None), "no Origin header: not a browser");
        assert!(origin_allowed(&allowed, Some("https://app.example.com")));
        assert!(origin_allowed(&allowed, Some("HTTPS://APP.EXAMPLE.COM/")));
        assert!(origin_allowed(&allowed, Some("http://web.example.org")));
        assert!(!origin_allowed(&allowed, Some("http://app.example.com")), "scheme listed, so it must match");
        assert!(!origin_allowed(&allowed, Some("https://evil.example.com")));
        assert!(origin_allowed(&[], Some("https://anything.example")), "no list: any origin");
    }

    #[test]
    fn refuses_what_it_does_not_speak() {
        assert!(pick(Some("lc.protobuf2.1"), "/").unwrap_err().contains("lc.protobuf2.1"));
        assert!(pick(None, "/").is_err());
        assert!(pick(None, "/?subprotocol=mqtt").unwrap_err().contains("mqtt"));
        assert!(pick(Some("chat"), "/?subprotocol=lc.protobuf2.3").is_err(), "a header offer wins over the query");
    }
}
