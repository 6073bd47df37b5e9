//! `session/open` → `session/opened`, then the `unread` summary (protocol `.3`).
//!
//! Order on the socket: `opened` first, then the session joins presence (so no message
//! is pushed before `opened`), then `unread`: per conversation with news, the count of
//! messages after the client's read mark (at most [`MAX_UNREAD`]), the last message, and
//! whether an unread message mentions the client — for the 50 conversations with the
//! newest messages. With `lastUnreadNotifTime`, only conversations that changed since then
//! are listed (with their count, possibly 0). Temporary conversations come with
//! `convType: 4` while they live, and are left out once expired.

use std::sync::Arc;

use ractor::ActorRef;

use super::rate::Class;
use super::token::Login;
use super::{Origin, SessionMsg, SessionState};
use crate::conversation::receipt::MAX_UNREAD;
use crate::conversation::temp;
use crate::delivery::presence::SessionEntry;
use crate::error::ImError;
use crate::ids;
use crate::im_err;
use crate::node::Node;
use crate::protocol::frame::{self, push};
use crate::protocol::{CommandType, GenericCommand, OpType, SessionCommand, UnreadCommand, UnreadTuple};
use crate::services::Services;
use crate::signature::{self, Action, Signed};

/// Most conversations listed in an `unread` summary.
pub const MAX_UNREAD_CONVERSATIONS: usize = 50;

/// A `session/open` that passed the checks.
#[derive(Debug, Clone)]
pub struct Opening {
    pub client: Arc<str>,
    /// `i` of the open request.
    pub i: Option<i32>,
    /// The session token handed out in `opened`, and when it expires.
    pub token: String,
    pub token_expires_ms: i64,
    /// The client's `lastUnreadNotifTime`.
    pub since: Option<i64>,
    /// The device tag and device (from the request, or from the token it presented).
    pub login: Login,
    /// `r: true`: an automatic re-open, which must not take a device tag from another device.
    pub reconnect: bool,
}

/// Checks a `session/open`: the app id, the client id (a missing one makes an anonymous
/// login), the rate limit, and then either the session token of a reconnect or the login
/// signature (when required).
/// A fresh login (not a resume with a session token) also takes from the socket's and the
/// IP address's login allowance, and `tag` and `deviceId` are held to the length of a
/// client id: they are kept with the token.
pub fn check(node: &Node, cmd: &GenericCommand, origin: &Origin) -> Result<Opening, ImError> {
    let session = cmd.session_message.as_ref().cloned().unwrap_or_default();
    if let Some(app_id) = cmd.app_id.as_deref().filter(|id| *id != node.config.app.id) {
        return Err(im_err!(AppNotAvailable, "unknown app id {app_id:?}"));
    }
    let client = match cmd.peer_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => {
            ids::validate_client_id(id)?;
            id.to_owned()
        }
        None if node.config.security.anonymous_login => ids::anonymous_client_id(),
        None => return Err(im_err!(InvalidLogin, "anonymous login is switched off: name a client id")),
    };
    let now = node.now_ms();
    node.rate.take(&client, Class::Other, now)?;
    let reconnect = session.r == Some(true);
    let resumed = match session.st.as_deref().filter(|_| reconnect) {
        Some(st) => Some(node.check_token(st, &client, now).ok_or_else(|| im_err!(SessionTokenExpired))?),
        None => None,
    };
    let login = match resumed {
        Some(login) => login,
        None => {
            take_origin(node, origin, Class::Login, now)?;
            signature::verify(node, &Action::login(&client), Signed::session(&session), &[])?;
            let tag = session.tag.filter(|t| !t.is_empty() && t != DEFAULT_TAG);
            let device = session.device_id.filter(|d| !d.is_empty());
            for (name, value) in [("tag", &tag), ("deviceId", &device)] {
                if value.as_ref().is_some_and(|v| v.len() > ids::MAX_CLIENT_ID_LEN) {
                    return Err(im_err!(InvalidLogin, "{name} must be at most {} bytes", ids::MAX_CLIENT_ID_LEN));
                }
            }
            Login { tag: tag.map(Into::into), device: device.unwrap_or_else(ids::new_session_token).into() }
        }
    };
    let ttl = node.config.limits.session_token_ttl_secs;
    let token = node.issue_token(&client, &login, now, ttl);
    let token_expires_ms = super::token::expires_at(now, ttl);
    let since = session.last_unread_notif_time.filter(|t| *t > 0);
    Ok(Opening { client: client.into(), i: cmd.i, token, token_expires_ms, since, login, reconnect })
}

/// Takes one `class` operation from the allowance of `origin`'s socket and IP address.
pub fn take_origin(node: &Node, origin: &Origin, class: Class, now: i64) -> Result<(), ImError> {
    node.socket_rate.take(&origin.socket.to_string(), class, now)?;
    match origin.ip {
        Some(ip) => node.ip_rate.take(&ip.to_string(), class, now),
        None => Ok(()),
    }
}

/// The tag that means "no single-device rule".
pub const DEFAULT_TAG: &str = "default";

/// Runs as the new session actor starts: `opened`, then the session joins presence (so no
/// push can overtake `opened`).
pub fn opened(state: &SessionState, myself: &ActorRef<SessionMsg>, opening: &Opening) {
    let node = &state.node;
    let opened = GenericCommand {
        peer_id: Some(opening.client.to_string()),
        server_ts: Some(node.now_ms()),
        session_message: Some(SessionCommand {
            st: Some(opening.token.clone()),
            st_ttl: Some(node.config.limits.session_token_ttl_secs as i32),
            ..Default::default()
        }),
        ..frame::reply(opening.i, CommandType::Session, Some(OpType::Opened))
    };
    state.outbox.send_raw(frame::encode(&opened));
    let entry = SessionEntry {
        id: state.id,
        outbox: state.outbox.clone(),
        control: Arc::new(myself.clone()),
        login: opening.login.clone(),
        opened_ms: node.now_ms(),
    };
    node.presence.register(&opening.client, entry);
}

/// Runs once the session actor has started: the `unread` summary.
pub async fn unread(state: &SessionState, opening: Opening) {
    let node = state.node.clone();
    let client = opening.client.clone();
    let since = opening.since;
    let convs = match node.blocking(move |node| unread_tuples(node, &client, since)).await {
        Ok(convs) => convs,
        Err(err) => {
            tracing::warn!(client = %opening.client, error = %err, "unread summary failed");
            Vec::new()
        }
    };
    let now = node.now_ms();
    let unread = GenericCommand {
        unread_message: Some(UnreadCommand { convs, notif_time: Some(now) }),
        ..push(CommandType::Unread, None, Some(now))
    };
    state.outbox.push(&unread);
}

/// The unread tuples of `client` (see the module doc).
pub fn unread_tuples(node: &Services, client: &str, since: Option<i64>) -> Result<Vec<UnreadTuple>, ImError> {
    let store = &node.store;
    let mut tuples = Vec::new();
    let now = node.now_ms();
    for cid in store.conversations_of(client)? {
        let conv_type = if ids::is_temp_conversation_id(&cid) {
            match store.conversation(&cid)? {
                Some(record) if temp::is_live(&record, now) => 4,
                _ => continue,
            }
        } else {
            1
        };
        let Some((last_seq, last)) = store.messages(&cid).last()? else {
            continue;
        };
        let cursor = store.cursor(&cid, client)?;
        let unread = last_seq.saturating_sub(cursor.read_seq).min(MAX_UNREAD);
        let changed = match since {
            Some(since) => last.ts > since || cursor.read_at > since,
            None => unread > 0,
        };
        if !changed {
            continue;
        }
        let bin = last.bin.is_some();
        tuples.push(UnreadTuple {
            cid,
            unread: unread as i32,
            mid: Some(last.mid),
            timestamp: Some(last.ts),
            from: Some(last.from),
            data: if bin { None } else { last.data },
            binary_msg: last.bin.map(Into::into),
            patch_timestamp: last.patch_ts,
            mentioned: Some(cursor.mention_seq > cursor.read_seq),
            conv_type: Some(conv_type),
        });
    }
    tuples.sort_by_key(|t| std::cmp::Reverse(t.timestamp));
    tuples.truncate(MAX_UNREAD_CONVERSATIONS);
    Ok(tuples)
}
