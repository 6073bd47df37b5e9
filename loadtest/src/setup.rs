//! Coordinator-side protocol work: creating the conversations a workload needs (each by its
//! first member, so no extra member joins) and auditing stored histories afterwards.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use xinshi::protocol::{GenericCommand, OpType};

use crate::record::{Payload, Stored};
use crate::wire::{self, Ws};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Sockets working in parallel.
const PARALLEL: usize = 16;

struct Conn {
    ws: Ws,
    next_i: i32,
}

impl Conn {
    async fn login(server: SocketAddr, app_id: &str, client_id: &str) -> Result<Conn, String> {
        let ws = wire::connect(server, wire::source_ip(0, 1), TIMEOUT).await?;
        let mut conn = Conn { ws, next_i: 0 };
        let reply = conn.request(|i| wire::open(app_id, client_id, i, false)).await?;
        if reply.op != Some(OpType::Opened as i32) {
            return Err(format!("login of {client_id} refused: {reply:?}"));
        }
        Ok(conn)
    }

    async fn request(&mut self, build: impl FnOnce(i32) -> GenericCommand) -> Result<GenericCommand, String> {
        self.next_i += 1;
        let i = self.next_i;
        self.ws.send(wire::binary(&build(i))).await.map_err(|e| e.to_string())?;
        loop {
            let msg =
                tokio::time::timeout(TIMEOUT, self.ws.next()).await.map_err(|_| "no reply in time".to_string())?;
            let msg = msg.ok_or("connection closed")?.map_err(|e| e.to_string())?;
            if let Some(cmd) = wire::decode(&msg)
                && cmd.i == Some(i)
            {
                return Ok(cmd);
            }
        }
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Logs `client_id` in and out once.
pub async fn login_once(server: SocketAddr, app_id: &str, client_id: &str) -> Result<(), String> {
    Conn::login(server, app_id, client_id).await?.close().await;
    Ok(())
}

/// Runs `job(n)` for n in 0..count on `PARALLEL` concurrent tasks; results in order.
async fn parallel<T: 'static, F>(count: usize, job: F) -> Result<Vec<T>, String>
where
    F: AsyncFn(usize) -> Result<T, String> + 'static,
{
    let job = Rc::new(job);
    let mut tasks = Vec::new();
    for lane in 0..PARALLEL.min(count) {
        let job = job.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut out = Vec::new();
            for n in (lane..count).step_by(PARALLEL) {
                out.push((n, job(n).await?));
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    all.sort_by_key(|(n, _)| *n);
    Ok(all.into_iter().map(|(_, v)| v).collect())
}

/// Creates one conversation per member list; `members[c][0]` creates conversation `c`.
pub async fn create_convs(
    server: SocketAddr,
    app_id: &str,
    ids: Rc<Vec<String>>,
    members: &[Vec<u32>],
) -> Result<Vec<String>, String> {
    let members: Rc<Vec<Vec<u32>>> = Rc::new(members.to_vec());
    let app_id = app_id.to_string();
    parallel(members.len(), async move |c| {
        let creator = &ids[members[c][0] as usize];
        let others: Vec<String> = members[c][1..].iter().map(|&m| ids[m as usize].clone()).collect();
        let mut conn = Conn::login(server, &app_id, creator).await?;
        let reply = conn.request(|i| wire::start_conv(creator, others, i)).await?;
        conn.close().await;
        match reply.conv_message.and_then(|c| c.cid) {
            Some(cid) if reply.op == Some(OpType::Started as i32) => Ok(cid),
            _ => Err(format!("conversation {c} was not created")),
        }
    })
    .await
}

/// Reads the whole stored history of every conversation, as its first member.
pub async fn audit(
    server: SocketAddr,
    app_id: &str,
    ids: Rc<Vec<String>>,
    members: &[Vec<u32>],
    cids: &[String],
) -> Result<Vec<Vec<Stored>>, String> {
    let members: Rc<Vec<Vec<u32>>> = Rc::new(members.to_vec());
    let cids: Rc<Vec<String>> = Rc::new(cids.to_vec());
    let app_id = app_id.to_string();
    parallel(cids.len(), async move |c| {
        let reader = &ids[members[c][0] as usize];
        let mut conn = Conn::login(server, &app_id, reader).await?;
        let mut history = Vec::new();
        let mut cursor: Option<(String, i64)> = None;
        loop {
            let reply = conn.request(|i| wire::logs_after(None, &cids[c], cursor.as_ref(), 100, i)).await?;
            let logs = reply.logs_message.map(|l| l.logs).unwrap_or_default();
            let full = logs.len() >= 100;
            for item in logs {
                let id = item.msg_id.unwrap_or_default();
                let p = item.data.as_deref().and_then(Payload::decode);
                let (sender, cseq) = p.map_or((u32::MAX, u32::MAX), |p| (p.sender, p.cseq));
                history.push(Stored { seq: xinshi::ids::message_seq(&id).unwrap_or(0), sender, cseq });
                cursor = Some((id, item.timestamp.unwrap_or(0)));
            }
            if !full {
                break;
            }
        }
        conn.close().await;
        Ok(history)
    })
    .await
}
