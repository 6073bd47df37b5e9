//! Several xinshi processes as one cluster (issue 12) over one PostgreSQL database, each on
//! an address of its own (127.0.0.1, 127.0.0.2, …; all of 127/8 is loopback on Linux).
//! They run in the PostgreSQL pass of `tests/run`
//! (`XINSHI_TEST_ENGINE=postgres`), and are skipped with a notice otherwise.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::child::ChildServer;
use crate::client::*;

/// `127.0.0.<host>:<a free port>` (bound, then released), for a node's node-to-node
/// listener; the node serves clients on the same address.
pub fn address(host: u8) -> String {
    let listener = TcpListener::bind((format!("127.0.0.{host}").as_str(), 0)).unwrap();
    format!("127.0.0.{host}:{}", listener.local_addr().unwrap().port())
}

/// The shared database, dropped at the end.
pub struct Database {
    admin: String,
    url: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = xinshi::store::kv::drop_test_database(&self.admin, &self.url);
    }
}

pub fn database(test: &str) -> Option<Database> {
    let Some(admin) = postgres_admin_url() else {
        eprintln!("{test}: runs in the PostgreSQL pass only (XINSHI_TEST_ENGINE=postgres; tests/run does both)");
        return None;
    };
    let url = fresh_database(&admin);
    Some(Database { admin, url })
}

/// One node of a test cluster: its name, node-to-node address and seeds.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub cluster: String,
    pub seeds: String,
    pub cookie: &'static str,
    /// Node-to-node TLS with the test certificates (tests/fixtures/cluster-tls).
    pub tls: bool,
}

/// Starts the node `spec` over `db` (`dir` only holds an unused data directory), serving
/// clients on the host of its node-to-node address.
pub fn start(db: &Database, dir: &std::path::Path, spec: &Spec) -> ChildServer {
    let host = spec.cluster.rsplit_once(':').unwrap().0;
    let listen = format!("{host}:0");
    let env = [
        ("XINSHI_SERVER_LISTEN", listen.as_str()),
        ("XINSHI_STORAGE_ENGINE", "postgres"),
        ("XINSHI_STORAGE_POSTGRES_URL", db.url.as_str()),
        ("XINSHI_CLUSTER_NAME", spec.name.as_str()),
        ("XINSHI_CLUSTER_LISTEN", spec.cluster.as_str()),
        ("XINSHI_CLUSTER_SEEDS", spec.seeds.as_str()),
        ("XINSHI_CLUSTER_COOKIE", spec.cookie),
    ];
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-tls");
    let [cert, key, ca] = ["node.pem", "node-key.pem", "ca.pem"].map(|f| fixtures.join(f).to_str().unwrap().to_owned());
    let tls = [("XINSHI_CLUSTER_TLS_CERT", &cert), ("XINSHI_CLUSTER_TLS_KEY", &key), ("XINSHI_CLUSTER_TLS_CA", &ca)];
    let tls = tls.map(|(k, v)| (k, v.as_str()));
    let env: Vec<(&str, &str)> = env.into_iter().chain(tls.into_iter().filter(|_| spec.tls)).collect();
    ChildServer::start_on(&dir.join(&spec.name), &env, || Ok(()))
}

pub async fn health(server: &ChildServer) -> Value {
    let (status, body) = http_to(&server.addr, "GET", "/healthz", &[], None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The state `server` sees each other member in, by name.
pub async fn states(server: &ChildServer) -> Vec<(String, String)> {
    let body = health(server).await;
    let members = body["cluster"]["members"].as_array().cloned().unwrap_or_default();
    members.iter().map(|m| (m["name"].as_str().unwrap().to_owned(), m["state"].as_str().unwrap().to_owned())).collect()
}

/// Waits until every server in `servers` sees exactly `expected` (name, state) pairs
/// besides itself; returns how long it took.
pub async fn converge(servers: &[(&str, &ChildServer)], expected: &[(&str, &str)], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for (name, server) in servers {
            let want: Vec<(String, String)> =
                expected.iter().filter(|(n, _)| n != name).map(|(n, s)| (n.to_string(), s.to_string())).collect();
            let got = states(server).await;
            all &= got == want;
            seen.push((name.to_string(), got));
        }
        if all {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "members did not converge to {expected:?}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cluster_members_find_each_other_see_a_loss_and_a_rejoin() {
    let Some(db) = database("cluster_members") else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = |name: &str, host: u8| Spec {
        name: name.into(),
        cluster: address(host),
        seeds: "".into(),
        cookie: "test-cookie",
        tls: false,
    };
    let (a, b, c) = (node("a", 1), node("b", 2), node("c", 3));
    // a has no seeds; b knows a; c knows only b, and hears of a from b (transitive).
    let (to_a, to_b) = (a.cluster.clone(), b.cluster.clone());
    let intruder = Spec { seeds: to_a.clone(), cookie: "wrong-cookie", ..node("intruder", 4) };
    let specs = [a, Spec { seeds: to_a, ..b }, Spec { seeds: to_b, ..c }];
    let a = start(&db, dir.path(), &specs[0]);
    let b = start(&db, dir.path(), &specs[1]);
    let mut c = start(&db, dir.path(), &specs[2]);
    let single = ChildServer::start(&[]);
    assert_eq!(health(&single).await["cluster"], Value::Null, "no [cluster]: a single node");

    let all_up = [("a", "up"), ("b", "up"), ("c", "up")];
    let took = converge(&[("a", &a), ("b", &b), ("c", &c)], &all_up, Duration::from_secs(15)).await;
    println!("three nodes up and connected in {took:?}");

    // A node with another cookie is not let in, and sees nobody up.
    let intruder = start(&db, dir.path(), &intruder);
    tokio::time::sleep(xinshi::cluster::REDIAL * 2).await;
    converge(&[("a", &a), ("b", &b), ("c", &c)], &all_up, Duration::from_secs(1)).await;
    let seen = states(&intruder).await;
    assert!(seen.iter().all(|(_, state)| state != "up"), "the wrong cookie got in: {seen:?}");
    drop(intruder);

    // kill -9 of c: a and b see it lost.
    c.kill();
    let lost = [("a", "up"), ("b", "up"), ("c", "lost")];
    let took = converge(&[("a", &a), ("b", &b)], &lost, Duration::from_secs(15)).await;
    println!("c seen lost {took:?} after kill -9");

    // c restarts with the same configuration and is joined again.
    let c = start(&db, dir.path(), &specs[2]);
    let took = converge(&[("a", &a), ("b", &b), ("c", &c)], &all_up, Duration::from_secs(15)).await;
    println!("c back up in {took:?}");
}

#[tokio::test]
async fn cluster_nodes_over_tls_admit_only_members_with_a_certificate() {
    let Some(db) = database("cluster_tls") else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = |name: &str, seeds: &str, tls: bool| Spec {
        name: name.into(),
        cluster: address(1),
        seeds: seeds.into(),
        cookie: "tls-cookie",
        tls,
    };
    let a = node("a", "", true);
    let b = node("b", &a.cluster, true);
    let plain = node("plain", &a.cluster, false);
    let (a, b) = (start(&db, dir.path(), &a), start(&db, dir.path(), &b));
    let took = converge(&[("a", &a), ("b", &b)], &[("a", "up"), ("b", "up")], Duration::from_secs(15)).await;
    println!("two nodes up over TLS in {took:?}");
    // The right cookie over plain TCP does not get in.
    let plain = start(&db, dir.path(), &plain);
    tokio::time::sleep(xinshi::cluster::REDIAL * 2).await;
    converge(&[("a", &a), ("b", &b)], &[("a", "up"), ("b", "up")], Duration::from_secs(1)).await;
    let seen = states(&plain).await;
    assert!(seen.iter().all(|(_, state)| state != "up"), "a node without TLS got in: {seen:?}");
}
