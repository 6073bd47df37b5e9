// Starts a cluster of xinshi nodes (issue 12) over one fresh PostgreSQL database: node `n<k>`
// listens for the other nodes on a free 127.0.0.1 port, and all of them dial `n0`. Runs in
// the PostgreSQL pass only (XINSHI_TEST_ENGINE=postgres).
'use strict';

const net = require('node:net');
const { PG_ADMIN, Server, freshDatabase, psql } = require('./server');

function freePort() {
  return new Promise((resolve, reject) => {
    const listener = net.createServer();
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => {
      const { port } = listener.address();
      listener.close(() => resolve(port));
    });
  });
}

// How many other nodes `server` has a route to (GET /healthz).
async function routes(server) {
  try {
    const health = await (await fetch(`${server.url}/healthz`)).json();
    return (health.cluster && health.cluster.routes.length) || 0;
  } catch {
    return -1;
  }
}

class Cluster {
  constructor(nodes, database) {
    this.nodes = nodes;
    this.database = database;
  }

  // Waits until every running node has a route to every other running node.
  async routed(timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    const up = this.nodes.filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);
    for (const node of up) {
      while ((await routes(node)) !== up.length - 1) {
        if (Date.now() > deadline) throw new Error(`node ${node.url} has no route to the other ${up.length - 1}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async destroy() {
    await Promise.all(this.nodes.map((n) => n.destroy()));
    psql(`DROP DATABASE IF EXISTS ${this.database.name} WITH (FORCE)`);
  }
}

async function startCluster(count) {
  if (!PG_ADMIN) throw new Error('a cluster needs the PostgreSQL pass');
  const database = freshDatabase();
  const links = [];
  for (let k = 0; k < count; k++) links.push(await freePort());
  const nodes = links.map((port, k) => new Server({
    database,
    env: {
      XINSHI_CLUSTER_NAME: `n${k}`,
      XINSHI_CLUSTER_LISTEN: `127.0.0.1:${port}`,
      XINSHI_CLUSTER_SEEDS: `127.0.0.1:${links[0]}`,
      XINSHI_CLUSTER_COOKIE: 'sdk-cluster-cookie',
    },
  }));
  const cluster = new Cluster(nodes, database);
  try {
    for (const node of nodes) await node.start();
    await cluster.routed();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

module.exports = { startCluster };
