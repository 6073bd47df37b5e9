//! Server discovery: the RTM router (`GET /v1/route`) and the app router (`GET /2/route`),
//! answered with this server's own addresses (spec/wire-protocol.md §3).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::AppState;

/// Seconds clients may cache a router answer.
const ROUTE_TTL_SECS: u64 = 3600;

#[derive(Debug, Deserialize)]
pub struct RouteQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
}

/// `GET /v1/route?appId=…&secure=…` → `{server, secondary, ttl}`. `server` is this node.
/// `secondary` is another live node of the cluster (one at random), or this one again on a
/// single node: the SDKs try it after a failure, and JS tries it first after each
/// reconnect — so clients of a node that died come back on the others.
pub async fn rtm_route(req: HttpRequest, state: web::Data<AppState>, query: web::Query<RouteQuery>) -> HttpResponse {
    if let Some(err) = check_app(&state, query.app_id.as_deref()) {
        return err;
    }
    let server = state.public_for(&req).ws_url();
    let others = state.node.cluster.get().map(|c| c.routes.ws_urls()).unwrap_or_default();
    let secondary = match others.len() {
        0 => server.clone(),
        n => others[rand::random_range(0..n)].clone(),
    };
    HttpResponse::Ok().json(json!({ "server": server, "secondary": secondary, "ttl": ROUTE_TTL_SECS }))
}

/// `GET /2/route?appId=…` → host names (no scheme) of every service, all of them this one.
pub async fn app_route(req: HttpRequest, state: web::Data<AppState>, query: web::Query<RouteQuery>) -> HttpResponse {
    if let Some(err) = check_app(&state, query.app_id.as_deref()) {
        return err;
    }
    let host = state.public_for(&req).host.clone();
    HttpResponse::Ok().json(json!({
        "api_server": host,
        "engine_server": host,
        "push_server": host,
        "rtm_router_server": host,
        "stats_server": host,
        "ttl": ROUTE_TTL_SECS,
    }))
}

fn check_app(state: &AppState, app_id: Option<&str>) -> Option<HttpResponse> {
    match app_id {
        Some(id) if id == state.node.config.app.id => None,
        _ => Some(super::json_error(actix_web::http::StatusCode::NOT_FOUND, 4100, "unknown appId")),
    }
}
