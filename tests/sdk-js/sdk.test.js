// The official LeanCloud JS SDK (leancloud-realtime 5.0.0-rc.8 and 4.3.1) against a freshly
// started xinshi. Every client runs in its own process, as apps do.
//
// The SDK emits a received message only after it has the message's conversation; the first
// messages of a conversation it has not loaded yet can come out in the order those lookups
// finish. Tests that check the order of live messages therefore load the conversation first,
// as an app does when it shows its conversation list; history order is checked separately.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { describe, test } = require('node:test');
const { MASTER_KEY, TLS_CERT, startServer } = require('./lib/server');
const { peer } = require('./lib/peers');
const { Proxy } = require('./lib/proxy');

// Starts a server (with `options` for lib/server.js) and runs `body(server, track)`; peers
// passed to `track` are killed and the server stopped afterwards, whatever happens.
async function withServer(body, options) {
  const server = await startServer(options);
  const peers = [];
  try {
    await body(server, (p) => (peers.push(p), p));
  } finally {
    for (const p of peers) p.kill();
    await server.destroy();
  }
}

for (const version of [5, 4]) {
  describe(`leancloud-realtime ${version === 5 ? '5.0.0-rc.8' : '4.3.1'}`, { timeout: 120000 }, () => {
    test('logs in', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        assert.equal(alice.id, 'alice');
      }));

    test('two clients in separate processes get the same unique conversation and chat', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const [fromAlice, fromBob] = await Promise.all([
          alice.call('createConversation', ['bob'], true, 'a and b'),
          bob.call('createConversation', ['alice'], true, 'b and a'),
        ]);
        assert.equal(fromAlice, fromBob);
        const cid = fromAlice;

        const sent = await alice.call('send', cid, 'hello bob');
        assert.equal(typeof sent.id, 'string');
        await bob.call('waitFor', 'received', 1);
        await bob.call('send', cid, 'hello alice');
        await alice.call('waitFor', 'received', 1);
        const [atBob] = await bob.call('received');
        assert.deepEqual(atBob, { id: sent.id, cid, from: 'alice', text: 'hello bob' });
        const [atAlice] = await alice.call('received');
        assert.equal(atAlice.text, 'hello alice');
        assert.deepEqual(await bob.call('myConversations'), [cid]);
        const info = await bob.call('conversation', cid);
        assert.deepEqual(info.members, ['alice', 'bob']);
      }));

    test('unread count after being offline', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        await bob.call('close');
        bob.kill();
        for (let n = 0; n < 3; n++) await alice.call('send', cid, `while you were out ${n}`);
        const bobAgain = track(await peer(version, server, 'bob'));
        await bobAgain.call('waitFor', 'unread', { cid, count: 3 });
      }));

    test('history pages backwards in order', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        const texts = [];
        for (let n = 0; n < 25; n++) {
          texts.push(`m${n}`);
          await alice.call('send', cid, `m${n}`);
        }
        const pages = await bob.call('history', cid, 10);
        assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
        assert.deepEqual([...pages].reverse().flat(), texts);
      }));

    test('noBinary mode (base64 text frames)', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice', { noBinary: true }));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        await alice.call('send', cid, 'over base64');
        await bob.call('waitFor', 'received', 1);
        await bob.call('send', cid, 'and back');
        await alice.call('waitFor', 'received', 1);
        assert.equal((await alice.call('received'))[0].text, 'and back');
      }));

    test('router discovery with only the server option', { skip: version === 4 && '4.x always asks https://<server>/v1/route' }, () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice', { rtmServers: null }));
        const bob = track(await peer(version, server, 'bob', { rtmServers: null }));
        const cid = await alice.call('createConversation', ['bob'], true);
        await alice.call('send', cid, 'found you');
        await bob.call('waitFor', 'received', 1);
      }));

    test('reconnect after the connection drops: nothing lost or duplicated', () =>
      withServer(async (server, track) => {
        const proxy = await new Proxy(server.port).listen();
        try {
          const alice = track(await peer(version, server, 'alice'));
          const bob = track(await peer(version, server, 'bob', { rtmServers: proxy.wsUrl }));
          const cid = await alice.call('createConversation', ['bob'], true);
          await bob.call('conversation', cid); // as an app showing its list would
          for (let n = 0; n < 5; n++) await alice.call('send', cid, `live ${n}`);
          await bob.call('waitFor', 'received', 5);

          proxy.cut();
          await bob.call('waitFor', 'event', 'disconnect');
          for (let n = 0; n < 5; n++) await alice.call('send', cid, `away ${n}`);
          const group = await alice.call('createConversation', ['bob', 'carol'], false, 'while you were away');
          proxy.unblock();
          await bob.call('waitFor', 'event', 'reconnect', 30000);
          await bob.call('waitFor', 'unread', { cid, count: 10 });
          if (version === 5) {
            // Missed membership events come back through GET /1.1/rtm/notifications (4.x
            // sends that request to https://, which this test server does not serve).
            await bob.call('waitFor', 'event', `invited:${group}`);
          }

          await alice.call('send', cid, 'back again');
          await bob.call('waitFor', 'received', 6);
          const live = (await bob.call('received')).map((m) => m.text);
          assert.deepEqual(live, ['live 0', 'live 1', 'live 2', 'live 3', 'live 4', 'back again']);
          const history = (await bob.call('history', cid, 100)).reverse().flat();
          const expected = [0, 1, 2, 3, 4].map((n) => `live ${n}`)
            .concat([0, 1, 2, 3, 4].map((n) => `away ${n}`), ['back again']);
          assert.deepEqual(history, expected);
        } finally {
          await proxy.close();
        }
      }));

    test('signatureFactory and conversationSignatureFactory against a server requiring signatures', () =>
      withServer(async (server, track) => {
        const signed = { signKey: MASTER_KEY };
        const alice = track(await peer(version, server, 'alice', signed));
        const bob = track(await peer(version, server, 'bob', signed));
        const cid = await alice.call('createConversation', ['bob'], false, 'signed');
        // bob's SDK fetches the conversation it was invited to; let that fetch finish first,
        // or its older answer may land in bob's cache after the one asked for below.
        await bob.call('waitFor', 'event', `invited:${cid}`);
        const added = await alice.call('addMembers', cid, ['carol']);
        assert.deepEqual(added, { successfulClientIds: ['carol'], failures: 0 });
        assert.deepEqual(await bob.call('members', cid), ['alice', 'bob', 'carol']);
        await alice.call('send', cid, 'signed and sealed');
        await bob.call('waitFor', 'received', 1);
        await assert.rejects(peer(version, server, 'mallory', { signKey: 'not-the-master-key' }),
          (error) => error.code === 4102 && /SIGNATURE_FAILED/.test(error.message));
        await assert.rejects(peer(version, server, 'mallory'), (error) => error.code === 4102);
      }, { env: { XINSHI_SECURITY_LOGIN_SIGNATURE: 'true', XINSHI_SECURITY_CONVERSATION_SIGNATURE: 'true' } }));

    test('join, quit, mute and block through the SDK, every factory signing', () =>
      withServer(async (server, track) => {
        const signed = { signKey: MASTER_KEY };
        const alice = track(await peer(version, server, 'alice', signed));
        const bob = track(await peer(version, server, 'bob', signed));
        const carol = track(await peer(version, server, 'carol', signed));
        const cid = await alice.call('createConversation', ['bob'], false, 'club');
        await bob.call('waitFor', 'event', `invited:${cid}`);
        await carol.call('join', cid);
        await alice.call('waitFor', 'event', `membersjoined:${cid}:carol`);

        const one = (id) => ({ successfulClientIds: [id], failures: 0 });
        assert.deepEqual(await alice.call('moderate', 'muteMembers', cid, ['bob']), one('bob'));
        await bob.call('waitFor', 'event', `muted:${cid}`);
        await carol.call('waitFor', 'event', `membersmuted:${cid}:bob`);
        await assert.rejects(bob.call('send', cid, 'may I?'), (error) => error.code === 4563);
        assert.deepEqual(await alice.call('moderate', 'unmuteMembers', cid, ['bob']), one('bob'));
        await bob.call('waitFor', 'event', `unmuted:${cid}`);
        await bob.call('send', cid, 'thanks');

        assert.deepEqual(await alice.call('moderate', 'blockMembers', cid, ['carol']), one('carol'));
        await carol.call('waitFor', 'event', `blocked:${cid}`);
        await carol.call('waitFor', 'event', `kicked:${cid}`);
        await bob.call('waitFor', 'event', `membersblocked:${cid}:carol`);
        assert.deepEqual(await alice.call('queryBlocked', cid), ['carol']);
        await assert.rejects(carol.call('join', cid), (error) => error.code === 4548);

        await bob.call('quit', cid);
        await alice.call('waitFor', 'event', `membersleft:${cid}:bob`);
        assert.deepEqual(await alice.call('members', cid), ['alice']);
      }, {
        env: {
          XINSHI_SECURITY_LOGIN_SIGNATURE: 'true',
          XINSHI_SECURITY_CONVERSATION_SIGNATURE: 'true',
          XINSHI_SECURITY_BLACKLIST_SIGNATURE: 'true',
          XINSHI_FEATURES_BLACKLIST: 'true',
        },
      }));

    test('a login with the same tag elsewhere raises conflict on the old device', () =>
      withServer(async (server, track) => {
        const mobile = { clientOptions: { tag: 'Mobile' } };
        const phone = track(await peer(version, server, 'alice', mobile));
        const web = track(await peer(version, server, 'alice', { clientOptions: { tag: 'Web' } }));
        const pad = track(await peer(version, server, 'alice', mobile));
        await phone.call('waitFor', 'eventStartingWith', 'conflict:');
        assert.ok((await phone.call('events')).some((e) => /^conflict:.*Mobile/.test(e)));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await pad.call('createConversation', ['bob'], true);
        await pad.call('send', cid, 'from the new device');
        await bob.call('waitFor', 'received', 1);
        await web.call('waitFor', 'received', 1); // another tag stays online
        assert.deepEqual(await phone.call('received'), []);
      }));

    test('wss:// to a self-signed certificate named in NODE_EXTRA_CA_CERTS', () =>
      withServer(async (server, track) => {
        const tls = { tls: true, env: { NODE_EXTRA_CA_CERTS: TLS_CERT } };
        const alice = track(await peer(version, server, 'alice', tls));
        const bob = track(await peer(version, server, 'bob', tls));
        const cid = await alice.call('createConversation', ['bob'], true);
        await alice.call('send', cid, 'over TLS');
        await bob.call('waitFor', 'received', 1);
        assert.equal((await bob.call('received'))[0].text, 'over TLS');
        await assert.rejects(peer(version, server, 'eve', { tls: true }), 'without the certificate: no connection');
      }, { tls: true }));

    test('reconnect after the server restarts: acknowledged messages survive', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        await bob.call('conversation', cid); // as an app showing its list would
        for (let n = 0; n < 3; n++) await alice.call('send', cid, `before ${n}`);
        await bob.call('waitFor', 'received', 3);

        await server.stop();
        await bob.call('waitFor', 'event', 'disconnect');
        await server.start();
        await Promise.all([alice, bob].map((p) => p.call('waitFor', 'event', 'session-reopened', 30000)));

        await alice.call('send', cid, 'after');
        await bob.call('waitFor', 'received', 4);
        const live = (await bob.call('received')).map((m) => m.text);
        assert.deepEqual(live, ['before 0', 'before 1', 'before 2', 'after']);
        const history = (await bob.call('history', cid, 100)).reverse().flat();
        assert.deepEqual(history, ['before 0', 'before 1', 'before 2', 'after']);
      }));

    test('rename: infoupdated on the other member, cached name until a noCache fetch', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const carol = track(await peer(version, server, 'carol'));
        // dave shares alice's socket: the reply to alice must come before dave's push.
        await alice.call('loginAlso', 'dave');
        const cid = await alice.call('createConversation', ['bob', 'dave'], false, 'old name');
        await bob.call('conversation', cid, true);
        await alice.call('as', 'dave', 'conversation', cid, true);
        assert.equal((await carol.call('conversation', cid)).name, 'old name'); // an outsider caches it

        const saved = await alice.call('update', cid, { name: 'new name', 'attr.pinned': true });
        assert.equal(saved.name, 'new name');
        assert.deepEqual(saved.attr, { pinned: true });
        const patch = JSON.stringify({ name: 'new name', 'attr.pinned': true });
        await bob.call('waitFor', 'event', `infoupdated:${cid}:${patch}:alice`);
        await alice.call('waitFor', 'event', `dave>infoupdated:${cid}:${patch}:alice`);
        assert.equal((await bob.call('conversation', cid, true)).name, 'new name', 'the push updated the cache');
        assert.equal((await alice.call('as', 'dave', 'conversation', cid, true)).name, 'new name');
        assert.ok(!(await alice.call('events')).some((e) => e.startsWith(`infoupdated:${cid}`)), 'not to the updater');

        assert.equal((await carol.call('conversation', cid, true)).name, 'old name', 'no push: the cache stays');
        const fresh = await carol.call('conversation', cid);
        assert.equal(fresh.name, 'new name');
        assert.deepEqual(fresh.attr, { pinned: true });
        await bob.call('update', cid, { attr: { lean: 'cloud' } });
        await alice.call('waitFor', 'event', `dave>infoupdated:${cid}:${JSON.stringify({ attr: { lean: 'cloud' } })}:bob`);
        assert.deepEqual((await carol.call('conversation', cid)).attr, { lean: 'cloud' }, 'a top-level key replaces');
      }));

    test('mute and unmute offline notifications; count', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob', 'carol'], false, 'quiet please');
        assert.deepEqual(await bob.call('mute', cid, true), { muted: true, mutedMembers: ['bob'] });
        assert.deepEqual((await alice.call('conversation', cid)).mutedMembers, ['bob']);
        assert.deepEqual(await bob.call('mute', cid, false), { muted: false, mutedMembers: [] });
        assert.deepEqual((await alice.call('conversation', cid)).mutedMembers, []);
        assert.equal(await alice.call('count', cid), 3);
        await alice.call('addMembers', cid, ['dave']);
        assert.equal(await bob.call('count', cid), 4);
      }));

    test('fetchReceiptTimestamps after the other member read', () =>
      withServer(async (server, track) => {
        const alice = track(await peer(version, server, 'alice'));
        const bob = track(await peer(version, server, 'bob'));
        const cid = await alice.call('createConversation', ['bob'], true);
        const before = await alice.call('receiptTimestamps', cid);
        assert.equal(before.lastReadAt, null);
        const sent = await alice.call('send', cid, 'did you read this?');
        await bob.call('waitFor', 'received', 1);
        await bob.call('read', cid);
        const deadline = Date.now() + 10000;
        let times;
        do {
          times = await alice.call('receiptTimestamps', cid);
        } while (times.lastReadAt !== sent.timestamp && Date.now() < deadline);
        assert.equal(times.lastReadAt, sent.timestamp);
        assert.ok(times.lastDeliveredAt >= sent.timestamp, JSON.stringify(times));
      }));

    test('member roles: promote, a member refused, memberinfoupdated, getAllMemberInfo', () =>
      withServer(async (server, track) => {
        // 4.x asks for member infos over https:// only.
        const tls = { tls: true, env: { NODE_EXTRA_CA_CERTS: TLS_CERT } };
        const owner = track(await peer(version, server, 'owner', tls));
        const member = track(await peer(version, server, 'member', tls));
        const other = crypto.randomUUID();
        const cid = await owner.call('createConversation', ['member', other], false, 'managed');
        await assert.rejects(member.call('updateMemberRole', cid, 'member', 'Manager'),
          (error) => error.code === 4320 && /CONVERSATION_OPERATION_UNAUTHORIZED/.test(error.message));
        await assert.rejects(owner.call('updateMemberRole', cid, 'member', 'Owner'), (error) => error.code === 5130);
        await owner.call('updateMemberRole', cid, 'member', 'Manager');
        await member.call('waitFor', 'event', `memberinfoupdated:${cid}:member:Manager:owner`);
        assert.deepEqual(await member.call('allMemberInfo', cid), [
          { memberId: other, role: 'Member', isOwner: false },
          { memberId: 'member', role: 'Manager', isOwner: false },
          { memberId: 'owner', role: 'Owner', isOwner: true },
        ].sort((a, b) => (a.memberId < b.memberId ? -1 : 1)));
        await assert.rejects(owner.call('quit', cid), (error) => /CONVERSATION_NEED_OWNER/.test(error.message));
        // Now a Manager, it may invite.
        assert.deepEqual(await member.call('addMembers', cid, ['newcomer']), { successfulClientIds: ['newcomer'], failures: 0 });
      }, { tls: true, env: { XINSHI_FEATURES_MEMBER_ROLES: 'true' } }));

    test('logins and members with Date.now() and UUID client ids', () =>
      withServer(async (server, track) => {
        const millis = Date.now().toString();
        const uuid = crypto.randomUUID();
        const first = track(await peer(version, server, millis));
        const second = track(await peer(version, server, uuid));
        assert.equal(first.id, millis);
        const cid = await first.call('createConversation', [uuid], false, 'numbers');
        await second.call('waitFor', 'event', `invited:${cid}`);
        const third = (Date.now() + 1).toString();
        await first.call('addMembers', cid, [third]);
        await second.call('waitFor', 'event', `membersjoined:${cid}:${third}`);
        await first.call('send', cid, 'hi from a timestamp');
        await second.call('waitFor', 'received', 1);
        assert.equal((await second.call('received'))[0].from, millis);
        assert.deepEqual(await second.call('members', cid), [millis, third, uuid].sort());
      }));

    test('a temporary conversation: created, used, found again, expired', () =>
      withServer(async (server, track) => {
        const support = track(await peer(version, server, 'support'));
        const customer = track(await peer(version, server, 'customer'));
        const created = await support.call('createTemporaryConversation', ['customer'], 3);
        assert.match(created.id, /^_tmp:/);
        assert.ok(Math.abs(created.expiredAt - (Date.now() + 3000)) < 1000, 'the TTL asked for is granted');
        await support.call('send', created.id, 'how can I help?');
        await customer.call('waitFor', 'received', 1);
        assert.equal((await customer.call('received'))[0].cid, created.id);
        await customer.call('send', created.id, 'my order is late');
        await support.call('waitFor', 'received', 1);
        // The same members give the same conversation while it lives.
        const again = await customer.call('createTemporaryConversation', ['support'], 3);
        assert.equal(again.id, created.id);
        assert.deepEqual((await customer.call('history', created.id, 10)).flat(), ['how can I help?', 'my order is late']);

        await new Promise((resolve) => setTimeout(resolve, Math.max(again.expiredAt, created.expiredAt) - Date.now() + 300));
        const expired = (error) => error.code === 4323 && error.name === 'TEMPORARY_CONVERSATION_EXPIRED' &&
          error.message === 'Temporary conversation expired or does not exist.';
        await assert.rejects(support.call('send', created.id, 'too late'), expired, 'the SDK knows the expiry');
        await support.call('pretendAlive', created.id);
        await assert.rejects(support.call('send', created.id, 'still too late'), expired, 'so does the server');
      }));
  });
}
