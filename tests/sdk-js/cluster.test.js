// The official JS SDK against a cluster of three xinshi processes over one PostgreSQL
// database (issue 12), with clients on different nodes. PostgreSQL pass only: skipped on
// the embedded engine, which one process owns.
'use strict';

const assert = require('node:assert/strict');
const { describe, test } = require('node:test');
const { PG_ADMIN } = require('./lib/server');
const { startCluster } = require('./lib/cluster');
const { peer } = require('./lib/peers');

// Starts three nodes and runs `body(cluster, track)`; tracked peers are killed and the
// nodes stopped afterwards.
async function withCluster(body) {
  const cluster = await startCluster(3);
  const peers = [];
  try {
    await body(cluster, (p) => (peers.push(p), p));
  } finally {
    for (const p of peers) p.kill();
    await cluster.destroy();
  }
}

const skip = !PG_ADMIN && 'a cluster shares a PostgreSQL database (XINSHI_TEST_ENGINE=postgres)';

for (const version of [5, 4]) {
  describe(`cluster, leancloud-realtime ${version === 5 ? '5.0.0-rc.8' : '4.3.1'}`, { skip, timeout: 120000 }, () => {
    test('chat and group fan-out with each client on another node; online status', () =>
      withCluster(async ({ nodes: [a, b, c] }, track) => {
        const alice = track(await peer(version, a, 'alice'));
        const bob = track(await peer(version, b, 'bob'));
        const carol = track(await peer(version, c, 'carol'));
        const pair = await alice.call('createConversation', ['bob'], true);
        const group = await alice.call('createConversation', ['bob', 'carol'], false, 'three nodes');
        await bob.call('conversation', pair); // as an app showing its list would
        await bob.call('conversation', group);
        await carol.call('conversation', group);
        await alice.call('send', pair, 'to bob');
        await bob.call('waitFor', 'received', 1);
        await bob.call('send', pair, 'to alice');
        await alice.call('waitFor', 'received', 1);
        for (let n = 0; n < 5; n++) await alice.call('send', group, `group ${n}`);
        await bob.call('waitFor', 'received', 6);
        await carol.call('waitFor', 'received', 5);
        const atCarol = (await carol.call('received')).map((m) => m.text);
        assert.deepEqual(atCarol, [0, 1, 2, 3, 4].map((n) => `group ${n}`));
        assert.equal((await alice.call('received'))[0].text, 'to alice');
        const online = await alice.call('online', ['bob', 'carol', 'nobody']);
        assert.deepEqual([...online].sort(), ['bob', 'carol']);
        const history = (await carol.call('history', group, 100)).reverse().flat();
        assert.deepEqual(history, atCarol);
      }));

    test('read receipts and unread counts across nodes', () =>
      withCluster(async ({ nodes: [a, b, c] }, track) => {
        const alice = track(await peer(version, a, 'alice'));
        const bob = track(await peer(version, b, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        await alice.call('send', cid, 'read me');
        await bob.call('waitFor', 'received', 1);
        await bob.call('read', cid);
        let receipts;
        for (let tries = 0; tries < 100; tries++) {
          receipts = await alice.call('receiptTimestamps', cid);
          if (receipts.lastReadAt) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(receipts.lastReadAt, `alice sees bob's read mark: ${JSON.stringify(receipts)}`);

        await bob.call('close');
        bob.kill();
        for (let n = 0; n < 3; n++) await alice.call('send', cid, `while you were out ${n}`);
        const bobOnC = track(await peer(version, c, 'bob'));
        await bobOnC.call('waitFor', 'unread', { cid, count: 3 });
      }));

    test('a device tag taken on another node raises conflict on the old device', () =>
      withCluster(async ({ nodes: [a, b, c] }, track) => {
        const mobile = { clientOptions: { tag: 'Mobile' } };
        const phone = track(await peer(version, a, 'alice', mobile));
        const web = track(await peer(version, c, 'alice', { clientOptions: { tag: 'Web' } }));
        const pad = track(await peer(version, b, 'alice', mobile));
        await phone.call('waitFor', 'eventStartingWith', 'conflict:');
        const bob = track(await peer(version, c, 'bob'));
        const cid = await pad.call('createConversation', ['bob'], true);
        await pad.call('send', cid, 'from the new device');
        await bob.call('waitFor', 'received', 1);
        await web.call('waitFor', 'received', 1); // another tag stays online
        assert.deepEqual(await phone.call('received'), []);
      }));

    test('the same unique conversation created on two nodes at once is one', () =>
      withCluster(async ({ nodes: [a, b] }, track) => {
        const alice = track(await peer(version, a, 'alice'));
        const bob = track(await peer(version, b, 'bob'));
        for (let round = 0; round < 3; round++) {
          const [fromAlice, fromBob] = await Promise.all([
            alice.call('createConversation', ['bob', `z${round}`], true),
            bob.call('createConversation', ['alice', `z${round}`], true),
          ]);
          assert.equal(fromAlice, fromBob);
        }
      }));

    test('a node killed: its client reconnects to another node with its session token', () =>
      withCluster(async (cluster, track) => {
        const [a, b, c] = cluster.nodes;
        const alice = track(await peer(version, a, 'alice'));
        // Bob's list of servers: b and c (as a router's server and secondary).
        const bob = track(await peer(version, b, 'bob', { rtmServers: [b.wsUrl, c.wsUrl] }));
        const cid = await alice.call('createConversation', ['bob'], true);
        await bob.call('conversation', cid);
        for (let n = 0; n < 3; n++) await alice.call('send', cid, `before ${n}`);
        await bob.call('waitFor', 'received', 3);

        // The SDK shuffles its list: kill the node bob is on.
        const sessions = async (node) => (await (await fetch(`${node.url}/healthz`)).json()).sessions;
        const [onB, onC] = [await sessions(b), await sessions(c)];
        assert.equal(onB + onC, 1, 'bob is the only client on b and c');
        const [gone, left] = onB ? [b, c] : [c, b];
        await gone.kill();
        await bob.call('waitFor', 'event', 'disconnect');
        await bob.call('waitFor', 'event', 'session-reopened', 30000);
        for (let n = 0; n < 3; n++) await alice.call('send', cid, `after ${n}`);
        await bob.call('waitFor', 'received', 6);
        const live = (await bob.call('received')).map((m) => m.text);
        assert.deepEqual(live, ['before 0', 'before 1', 'before 2', 'after 0', 'after 1', 'after 2']);
        assert.equal(await sessions(left), 1, 'bob is back on the other node');
        await bob.call('send', cid, 'from the other node');
        await alice.call('waitFor', 'received', 1);

        // The killed node comes back and is a member again.
        await gone.start();
        await cluster.routed();
        const carol = track(await peer(version, gone, 'carol'));
        const group = await carol.call('createConversation', ['alice', 'bob'], false);
        await carol.call('send', group, 'b is back');
        await alice.call('waitFor', 'received', 2);
        await bob.call('waitFor', 'received', 7);
      }));
  });
}
