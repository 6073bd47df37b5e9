//! Three xinshi processes as one cluster (issue 12), with clients on different nodes:
//! conversations owned by any node, answers and pushes across nodes, presence, device tags.
//! PostgreSQL pass only, like `cluster.rs`.

use std::time::{Duration, Instant};

use xinshi::protocol::*;

use crate::child::ChildServer;
use crate::client::*;
use crate::cluster::{Database, Spec, address, database, health, start};

const NAMES: [&str; 3] = ["a", "b", "c"];

/// Starts nodes a, b and c on 127.0.0.1, .2 and .3 (all dial a) and waits until each has
/// routes to the other two.
async fn three(db: &Database, dir: &std::path::Path) -> Vec<ChildServer> {
    let specs: Vec<Spec> = NAMES
        .iter()
        .zip(1..)
        .map(|(name, host)| Spec {
            name: name.to_string(),
            cluster: address(host),
            seeds: String::new(),
            cookie: "routes-cookie",
            tls: false,
        })
        .collect();
    let seed = specs[0].cluster.clone();
    // All at once, each with the same seed (a skips itself), as a deployment starts them.
    let nodes: Vec<ChildServer> = std::thread::scope(|scope| {
        let starting: Vec<_> = specs
            .iter()
            .map(|spec| scope.spawn(|| start(db, dir, &Spec { seeds: seed.clone(), ..spec.clone() })))
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let started = Instant::now();
    for node in &nodes {
        loop {
            let routes = health(node).await["cluster"]["routes"].as_array().map_or(0, Vec::len);
            if routes == 2 {
                break;
            }
            assert!(started.elapsed() < WAIT, "routes did not open");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("three nodes routed in {:?}", started.elapsed());
    nodes
}

/// The node (index into `NAMES`) that owns `cid`.
fn owner(cid: &str) -> usize {
    let name = xinshi::cluster::placement::owner(cid, NAMES).unwrap();
    NAMES.iter().position(|n| *n == name).unwrap()
}

fn online_query(ids: &[&str]) -> GenericCommand {
    GenericCommand {
        session_message: Some(SessionCommand {
            session_peer_ids: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
        ..frame::command(CommandType::Session, Some(OpType::Query))
    }
}

/// The next push of `cmd` with `op` (other pushes of `cmd` before it are skipped).
async fn push_with_op(client: &mut Client, cmd: CommandType, op: OpType) -> GenericCommand {
    loop {
        let push = client.next_push_of(cmd).await;
        if push.op == Some(op as i32) {
            return push;
        }
    }
}

fn tagged_open(client: &str, tag: &str, device: &str) -> GenericCommand {
    let mut cmd = open(client);
    let session = cmd.session_message.as_mut().unwrap();
    session.tag = Some(tag.into());
    session.device_id = Some(device.into());
    cmd
}

#[tokio::test]
async fn f_msg_send_f_conv_add_f_conv_online_f_login_tag_across_three_nodes() {
    let Some(db) = database("cluster_routes") else { return };
    let dir = tempfile::tempdir().unwrap();
    let nodes = three(&db, dir.path()).await;
    let url = |n: usize| nodes[n].ws_url();
    // The router names this node, and another live one as the secondary.
    let (status, route) = http_to(&nodes[0].addr, "GET", &format!("/v1/route?appId={APP_ID}"), &[], None).await;
    assert_eq!(status, 200, "{route}");
    assert_eq!(route["server"], url(0).as_str());
    let secondary = route["secondary"].as_str().unwrap().to_owned();
    assert!(secondary == url(1) || secondary == url(2), "{route}");
    let mut alice = Client::login_at(&url(0), "alice").await;
    let mut bob = Client::login_at(&url(1), "bob").await;
    let mut carol = Client::login_at(&url(2), "carol").await;

    // Conversations until each node owns one; bob and carol hear they joined, whichever
    // node they are on.
    let mut cids: Vec<Option<String>> = vec![None; 3];
    for _ in 0..40 {
        let started = alice.request(start_conv(&["bob", "carol"], false, "{}")).await;
        let cid = started_cid(&started);
        for member in [&mut bob, &mut carol] {
            let joined = member.next_push_of(CommandType::Conv).await;
            assert_eq!(joined.op, Some(OpType::Joined as i32), "{joined:?}");
        }
        let slot = &mut cids[owner(&cid)];
        if slot.is_none() {
            *slot = Some(cid);
        }
        if cids.iter().all(Option::is_some) {
            break;
        }
    }
    let cids: Vec<String> = cids.into_iter().map(|c| c.expect("every node owns one of 40")).collect();

    // Messages from a node to conversations owned by each node: acknowledged, and pushed
    // in order to members on the other two nodes.
    for (owned_by, cid) in cids.iter().enumerate() {
        for n in 0..10 {
            let (uid, _) = acked(&alice.request(direct(cid, &format!("{owned_by}-{n}"), None)).await);
            for member in [&mut bob, &mut carol] {
                let push = member.next_push_of(CommandType::Direct).await;
                let msg = push.direct_message.unwrap();
                assert_eq!((msg.cid.as_deref(), msg.id.as_deref()), (Some(cid.as_str()), Some(uid.as_str())));
                assert_eq!(msg.msg.as_deref(), Some(format!("{owned_by}-{n}").as_str()));
            }
        }
        // A history read on any node sees them.
        let history = carol.request(logs(cid, |l| l.limit = Some(20))).await;
        assert_eq!(log_texts(&history).len(), 10, "{history:?}");
    }
    println!("pushes crossed: {}", health(&nodes[0]).await["cluster"]["sent"]);

    // A membership change answered across nodes, and its event pushed to every member.
    let mut dave = Client::login_at(&url(2), "dave").await;
    for cid in &cids {
        let added = bob.request(conv_members(OpType::Add, cid, &["dave"])).await;
        assert_eq!(added.op, Some(OpType::Added as i32), "{added:?}");
        push_with_op(&mut dave, CommandType::Conv, OpType::Joined).await;
        push_with_op(&mut alice, CommandType::Conv, OpType::MembersJoined).await;
        // A non-member's command is refused by the owner, wherever it came from.
        let mut erin = Client::login_at(&url(owner(cid)), "erin").await;
        let refused = erin.request(direct(cid, "not a member", None)).await;
        assert_eq!(error_code(&refused), 4401, "{refused:?}");
        erin.close().await;
    }

    // Online status of clients on every node.
    let online = alice.request(online_query(&["bob", "carol", "dave", "nobody"])).await;
    let mut ids = online.session_message.unwrap().online_session_peer_ids;
    ids.sort();
    assert_eq!(ids, ["bob", "carol", "dave"]);
    bob.close().await;
    let started = Instant::now();
    loop {
        let online = alice.request(online_query(&["bob"])).await;
        if online.session_message.unwrap().online_session_peer_ids.is_empty() {
            break;
        }
        assert!(started.elapsed() < WAIT, "bob still online after logging out on b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Unread after being offline: bob comes back on another node.
    for n in 0..3 {
        acked(&alice.request(direct(&cids[1], &format!("while away {n}"), None)).await);
    }
    let mut bob = Client::connect_with(&url(2), Some("lc.protobuf2.3")).await.unwrap();
    let opened = bob.request(open("bob")).await;
    assert_eq!(opened.op, Some(OpType::Opened as i32));
    let unread = bob.next_push_of(CommandType::Unread).await.unread_message.unwrap();
    let tuple = unread.convs.iter().find(|t| t.cid == cids[1]).expect("the conversation is listed");
    assert!(tuple.unread >= 3, "{tuple:?}");

    // A device tag taken on another node ends the older session there (4111).
    let mut phone = Client::connect_with(&url(0), Some("lc.protobuf2.3")).await.unwrap();
    assert_eq!(phone.request(tagged_open("frank", "Mobile", "phone-1")).await.op, Some(OpType::Opened as i32));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tablet = Client::connect_with(&url(1), Some("lc.protobuf2.3")).await.unwrap();
    assert_eq!(tablet.request(tagged_open("frank", "Mobile", "tablet-1")).await.op, Some(OpType::Opened as i32));
    let closed = push_with_op(&mut phone, CommandType::Session, OpType::Closed).await;
    assert_eq!(closed.session_message.unwrap().code, Some(4111));
    // A reconnect of the phone (r: true) on a third node may not take the tag back.
    let mut again = tagged_open("frank", "Mobile", "phone-1");
    again.session_message.as_mut().unwrap().r = Some(true);
    let mut phone = Client::connect_with(&url(2), Some("lc.protobuf2.3")).await.unwrap();
    let refused = phone.request(again).await;
    assert_eq!(error_code(&refused), 4111, "{refused:?}");

    // A kick through node a ends frank's session on b at once, with the app's reason.
    let headers = [("X-LC-Id", APP_ID), ("X-LC-Key", "xinshi-dev-master-key,master")];
    let body = serde_json::json!({ "reason": "kicked through a" });
    let (status, _) = http_to(&nodes[0].addr, "POST", "/1.2/rtm/clients/frank/kick", &headers, Some(&body)).await;
    assert_eq!(status, 200);
    let closed = push_with_op(&mut tablet, CommandType::Session, OpType::Closed).await.session_message.unwrap();
    assert_eq!((closed.code, closed.reason.as_deref()), (Some(4115), Some("kicked through a")));
}

#[tokio::test]
async fn f_conv_unique_created_on_two_nodes_at_once_is_one_conversation() {
    let Some(db) = database("cluster_unique") else { return };
    let dir = tempfile::tempdir().unwrap();
    let nodes = three(&db, dir.path()).await;
    let mut alice = Client::login_at(&nodes[0].ws_url(), "alice").await;
    let mut bob = Client::login_at(&nodes[1].ws_url(), "bob").await;
    for round in 0..5 {
        // The creator is a member: both ask for {alice, bob, z<round>}.
        let z = format!("z{round}");
        let a = alice.send_request(start_conv(&["bob", &z], true, "{}")).await;
        let b = bob.send_request(start_conv(&["alice", &z], true, "{}")).await;
        let (a, b) = tokio::join!(alice.reply_to(a), bob.reply_to(b));
        assert_eq!(started_cid(&a), started_cid(&b), "round {round}");
    }
    // b and c dialed each other at once (both heard of the other from a); ractor_cluster
    // refused one of the two connections, which must not make either look lost.
    tokio::time::sleep(xinshi::cluster::REDIAL * 2).await;
    for node in &nodes {
        let states = crate::cluster::states(node).await;
        assert!(states.len() == 2 && states.iter().all(|(_, s)| s == "up"), "{states:?}");
    }
}

/// The number of routes `node` has to other nodes.
async fn routes(node: &ChildServer) -> usize {
    health(node).await["cluster"]["routes"].as_array().map_or(0, Vec::len)
}

/// Sends `text` (client token `dt`) until it is acknowledged: 4200 (its node left
/// mid-request) and 4201 (a stale owner was fenced) may be sent again, with the same token.
async fn send_until_acked(client: &mut Client, cid: &str, text: &str, dt: &str) -> (u32, Duration) {
    let (mut refused, started) = (0, Instant::now());
    loop {
        let reply = client.request(direct(cid, text, Some(dt))).await;
        if reply.cmd == Some(CommandType::Ack as i32) {
            return (refused, started.elapsed());
        }
        let code = error_code(&reply);
        assert!(code == 4200 || code == 4201, "{reply:?}");
        assert!(started.elapsed() < Duration::from_secs(20), "{text} never acknowledged");
        refused += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_stopped_node_is_found_silent_its_conversations_move_and_it_rejoins_fenced() {
    let Some(db) = database("cluster_sigstop") else { return };
    let dir = tempfile::tempdir().unwrap();
    let nodes = three(&db, dir.path()).await;
    let mut alice = Client::login_at(&nodes[0].ws_url(), "alice").await;
    let mut bob = Client::login_at(&nodes[1].ws_url(), "bob").await;
    let mut carol = Client::login_at(&nodes[2].ws_url(), "carol").await;
    // A conversation c owns.
    let cid = loop {
        let cid = started_cid(&alice.request(start_conv(&["bob", "carol"], false, "{}")).await);
        if owner(&cid) == 2 {
            break cid;
        }
    };
    let mut acked = Vec::new();
    for n in 0..5 {
        send_until_acked(&mut alice, &cid, &format!("before {n}"), &format!("b{n}")).await;
        acked.push(format!("before {n}"));
    }

    // c stops answering but keeps its connections open.
    nodes[2].signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let (refused, took) = send_until_acked(&mut alice, &cid, "while c is stopped", "s0").await;
    acked.push("while c is stopped".into());
    println!("with c stopped: acknowledged after {took:?}, {refused} refusals (4200/4201)");
    while routes(&nodes[0]).await != 1 || routes(&nodes[1]).await != 1 {
        assert!(stopped.elapsed() < Duration::from_secs(10), "c not found silent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("c found silent and disconnected {:?} after SIGSTOP (cluster.suspect_ms = 3000)", stopped.elapsed());
    for n in 0..5 {
        let (refused, _) = send_until_acked(&mut bob, &cid, &format!("moved {n}"), &format!("m{n}")).await;
        assert_eq!(refused, 0, "the conversation answers on its new owner");
        acked.push(format!("moved {n}"));
    }

    // c comes back: it finds everyone silent, reconnects, and its old actor of the
    // conversation cannot write over the new owner's (the epoch fence).
    nodes[2].signal(libc::SIGCONT);
    let resumed = Instant::now();
    let (refused, took) = send_until_acked(&mut carol, &cid, "from c after it resumed", "c0").await;
    acked.push("from c after it resumed".into());
    println!("carol on c: acknowledged {took:?} after SIGCONT, {refused} refusals");
    for node in &nodes {
        while routes(node).await != 2 {
            assert!(resumed.elapsed() < Duration::from_secs(15), "c did not rejoin");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("c rejoined {:?} after SIGCONT", resumed.elapsed());
    for n in 0..5 {
        send_until_acked(&mut carol, &cid, &format!("after {n}"), &format!("a{n}")).await;
        acked.push(format!("after {n}"));
    }

    // History holds every acknowledged message once, in order of acknowledgement.
    let history = bob.request(logs(&cid, |l| l.limit = Some(100))).await;
    assert_eq!(log_texts(&history), acked, "history is exactly what was acknowledged");
}
