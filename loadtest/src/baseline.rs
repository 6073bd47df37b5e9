//! The bare baseline: a WebSocket server on the same stack as xinshi (actix-web + actix-ws,
//! one task and one outbound queue per socket) with no domain logic: no actors, no storage,
//! no checks. It answers just enough of the protocol for the generator — `session/open`,
//! `conv/start` (an in-memory member list), `direct` (ack, then one encoded push shared by
//! every other member's sockets), `logs` (always empty) and `echo` — so the same workloads
//! measure the transport limit in the same run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::AggregatedMessage;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use xinshi::protocol::frame;
use xinshi::protocol::*;

use crate::args::Args;

/// A socket's id and its outbound queue.
type SocketTx = (u64, UnboundedSender<Bytes>);

#[derive(Default)]
struct Hub {
    /// Client id → its sockets.
    sockets: Mutex<HashMap<String, Vec<SocketTx>>>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_id: AtomicU64,
}

struct Group {
    members: Vec<String>,
    /// Held from numbering a message until it is queued to every member, so pushes leave in
    /// sequence order.
    seq: Mutex<u64>,
}

pub fn main(args: &Args) -> std::io::Result<()> {
    let listen = args.string("listen", "127.0.0.1:8090");
    args.finish();
    // The same scheduling policy as xinshi's default (`batch_scheduling`), so that the two
    // differ only in what they do per message.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system call on the calling thread, before any other thread exists.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    let hub = web::Data::new(Hub::default());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || App::new().app_data(hub.clone()).route("/", web::get().to(upgrade)))
            .workers(workers)
            .tcp_nodelay(true)
            .bind(&listen)?
            .run(),
    )
}

async fn upgrade(req: HttpRequest, body: web::Payload, hub: web::Data<Hub>) -> actix_web::Result<HttpResponse> {
    let (mut response, session, stream) = actix_ws::handle(&req, body)?;
    response.headers_mut().insert(
        actix_web::http::header::SEC_WEBSOCKET_PROTOCOL,
        actix_web::http::header::HeaderValue::from_static("lc.protobuf2.3"),
    );
    actix_web::rt::spawn(run(hub.into_inner(), session, stream));
    Ok(response)
}

async fn run(hub: Arc<Hub>, mut ws: actix_ws::Session, stream: actix_ws::MessageStream) {
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = unbounded_channel::<Bytes>();
    let mut stream = stream.max_frame_size(4 << 20).aggregate_continuations();
    let mut client: Option<String> = None;
    loop {
        tokio::select! {
            biased;
            out = rx.recv() => match out {
                Some(bytes) => if ws.binary(bytes).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    let Ok(cmd) = frame::decode_binary(&bytes) else { continue };
                    on_command(&hub, id, &tx, &mut client, cmd);
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => if ws.pong(&bytes).await.is_err() { break },
                Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some(client) = client {
        let mut sockets = hub.sockets.lock().unwrap();
        if let Some(list) = sockets.get_mut(&client) {
            list.retain(|(sid, _)| *sid != id);
            if list.is_empty() {
                sockets.remove(&client);
            }
        }
    }
    let _ = ws.close(None).await;
}

fn on_command(hub: &Hub, id: u64, tx: &UnboundedSender<Bytes>, client: &mut Option<String>, cmd: GenericCommand) {
    let reply = |c: CommandType, op: Option<OpType>| frame::reply(cmd.i, c, op);
    let send = |out: GenericCommand| {
        let _ = tx.send(frame::encode(&out));
    };
    let now = xinshi::clock::Clock::now_ms(&xinshi::clock::SystemClock);
    match CommandType::try_from(cmd.cmd.unwrap_or(-1)) {
        Ok(CommandType::Session) if cmd.op == Some(OpType::Open as i32) => {
            let Some(peer) = cmd.peer_id.clone() else { return };
            hub.sockets.lock().unwrap().entry(peer.clone()).or_default().push((id, tx.clone()));
            *client = Some(peer);
            send(reply(CommandType::Session, Some(OpType::Opened)));
        }
        Ok(CommandType::Conv) if cmd.op == Some(OpType::Start as i32) => {
            let (Some(me), Some(conv)) = (client.clone(), cmd.conv_message) else { return };
            let mut members = conv.m;
            members.insert(0, me);
            let cid = format!("{:024x}", hub.next_id.fetch_add(1, Ordering::Relaxed));
            hub.groups.lock().unwrap().insert(cid.clone(), Arc::new(Group { members, seq: Mutex::new(0) }));
            send(GenericCommand {
                conv_message: Some(ConvCommand { cid: Some(cid), ..Default::default() }),
                ..reply(CommandType::Conv, Some(OpType::Started))
            });
        }
        Ok(CommandType::Direct) => {
            let (Some(me), Some(direct)) = (client.as_deref(), cmd.direct_message) else { return };
            let cid = direct.cid.unwrap_or_default();
            let Some(group) = hub.groups.lock().unwrap().get(&cid).cloned() else {
                // Forgotten (after a restart) or never created.
                let error =
                    ErrorCommand { code: 4401, reason: "INVALID_MESSAGING_TARGET".into(), ..Default::default() };
                return send(GenericCommand { error_message: Some(error), ..reply(CommandType::Error, None) });
            };
            let mut seq = group.seq.lock().unwrap();
            *seq += 1;
            let mid = xinshi::ids::new_message_id(*seq);
            send(GenericCommand {
                ack_message: Some(AckCommand { uid: Some(mid.clone()), t: Some(now), ..Default::default() }),
                ..reply(CommandType::Ack, None)
            });
            let push = frame::encode(&GenericCommand {
                direct_message: Some(DirectCommand {
                    cid: Some(cid),
                    id: Some(mid),
                    timestamp: Some(now),
                    from_peer_id: Some(me.to_string()),
                    msg: direct.msg,
                    ..Default::default()
                }),
                ..frame::push(CommandType::Direct, None, Some(now))
            });
            let sockets = hub.sockets.lock().unwrap();
            for member in group.members.iter().filter(|m| m.as_str() != me) {
                for (_, out) in sockets.get(member).into_iter().flatten() {
                    let _ = out.send(push.clone());
                }
            }
        }
        Ok(CommandType::Logs) => {
            send(GenericCommand { logs_message: Some(LogsCommand::default()), ..reply(CommandType::Logs, None) })
        }
        Ok(CommandType::Echo) => send(reply(CommandType::Echo, None)),
        _ => {}
    }
}
