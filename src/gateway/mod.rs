//! The edge: actix-web for HTTP, actix-ws for WebSocket. No chat state lives here.
//!
//! | route | what |
//! |---|---|
//! | `GET /` with `Upgrade: websocket` | the IM WebSocket ([`ws`], then [`socket`]) |
//! | `GET /` | a small JSON status |
//! | `GET /healthz` | up; sessions here; the cluster's members and routes as this node sees them |
//! | `GET /v1/route`, `GET /2/route` | server discovery ([`route`]) |
//! | `GET /1.1/rtm/notifications` | kept notifications, replayed after a reconnect ([`rest`]) |
//! | `GET /1.1/classes/_ConversationMemberInfo` | member roles of a conversation ([`member_info`]) |
//! | `POST /1.2/rtm/clients/{id}/kick`, `POST /1.1/rtm/client/kick` | forced offline ([`kick`]) |
//!
//! Anything else is a 404 with a JSON body `{code, error}`, the shape of LeanCloud's REST
//! errors.

pub mod guard;
pub mod kick;
pub mod member_info;
pub mod rest;
pub mod route;
pub mod socket;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::node::Node;

/// How clients reach this server.
#[derive(Debug, Clone)]
pub struct PublicUrl {
    /// `https` or `http`.
    pub secure: bool,
    /// `host:port` (or `host`).
    pub host: String,
}

impl PublicUrl {
    /// From the configured `public_url`, or else the address actually bound (`secure` when
    /// that is the TLS listener).
    pub fn new(configured: &str, bound: SocketAddr, secure: bool) -> PublicUrl {
        let configured = configured.trim().trim_end_matches('/');
        if let Some(host) = configured.strip_prefix("https://") {
            return PublicUrl { secure: true, host: host.to_owned() };
        }
        if let Some(host) = configured.strip_prefix("http://") {
            return PublicUrl { secure: false, host: host.to_owned() };
        }
        if !configured.is_empty() {
            return PublicUrl { secure: false, host: configured.to_owned() };
        }
        PublicUrl { secure, host: bound.to_string() }
    }

    /// `http://host` or `https://host`: the SDKs' `server` option.
    pub fn http_url(&self) -> String {
        format!("{}://{}", if self.secure { "https" } else { "http" }, self.host)
    }

    /// `ws://host/` or `wss://host/`: the SDKs' `RTMServers` option.
    pub fn ws_url(&self) -> String {
        format!("{}://{}/", if self.secure { "wss" } else { "ws" }, self.host)
    }
}

/// What every HTTP handler gets.
pub struct AppState {
    pub node: Arc<Node>,
    /// How clients reach this server: `server.public_url`, or else the plain listener, or
    /// else the TLS one.
    pub public: PublicUrl,
    /// With both listeners and no `public_url`: the TLS listener's address, for answers to
    /// requests that came in over TLS.
    pub tls_public: Option<PublicUrl>,
}

impl AppState {
    /// The address to hand out to whoever sent `req`.
    pub fn public_for(&self, req: &HttpRequest) -> &PublicUrl {
        match &self.tls_public {
            Some(tls) if req.connection_info().scheme() == "https" => tls,
            _ => &self.public,
        }
    }
}

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/healthz", web::get().to(healthz))
        .route("/v1/route", web::get().to(route::rtm_route))
        .route("/2/route", web::get().to(route::app_route))
        .route("/1.1/rtm/notifications", web::get().to(rest::notifications))
        .route("/1.1/classes/_ConversationMemberInfo", web::get().to(member_info::member_info))
        .route("/1.2/rtm/clients/{client_id}/kick", web::post().to(kick::kick))
        .route("/1.1/rtm/client/kick", web::post().to(kick::kick_legacy))
        .default_service(web::to(not_found));
}

/// `GET /`: the WebSocket when asked to upgrade, else a status document.
async fn root(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let upgrade = req.headers().get("upgrade").and_then(|v| v.to_str().ok());
    if upgrade.is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return ws::upgrade(req, body, state.into_inner()).await;
    }
    let public = state.public_for(&req);
    HttpResponse::Ok().json(json!({
        "name": "xinshi",
        "version": env!("CARGO_PKG_VERSION"),
        "server": public.http_url(),
        "RTMServers": [public.ws_url()],
    }))
}

/// `GET /healthz`: `{status, node, sessions, cluster}`: `sessions` logged in here; `cluster`
/// is `null` on a single node, else this node's name and every member it knows with its
/// state (`joining`, `up`, `lost`), address and since when; `routes`, the nodes its router
/// is linked to (the ones conversations are placed on, with this one); `sent`, the batches,
/// items and bytes it sent them. (The node-to-node addresses are an operator's business:
/// keep the cluster port itself off the public network.)
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let node = &state.node;
    let cluster = node.cluster.get().map(|cluster| {
        let sent = &cluster.routes.sent;
        let routes: Vec<_> =
            cluster.routes.linked().into_iter().map(|(node, name)| json!({"node": node, "name": name})).collect();
        json!({
            "name": cluster.name,
            "advertise": cluster.advertise,
            "members": cluster.members.list(),
            "routes": routes,
            "sent": {
                "batches": sent.batches.load(Ordering::Relaxed),
                "items": sent.items.load(Ordering::Relaxed),
                "bytes": sent.bytes.load(Ordering::Relaxed),
            },
        })
    });
    let sessions = node.presence.count_here();
    HttpResponse::Ok()
        .json(json!({ "status": "ok", "node": node.store.node_id(), "sessions": sessions, "cluster": cluster }))
}

async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, 404, "not found")
}

/// An HTTP error with LeanCloud's JSON body `{code, error}`.
pub fn json_error(status: StatusCode, code: i32, error: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "code": code, "error": error }))
}
