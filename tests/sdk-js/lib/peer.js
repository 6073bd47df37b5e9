// A child process holding one `Realtime` and one IM client of the official SDK (the SDK
// allows one `Realtime` per appId per process). The test process drives it over IPC:
// messages {id, op, args} in, {id, result} or {id, error} out.
'use strict';

const crypto = require('node:crypto');

const received = [];
const unread = {};
const events = [];
let sdk;
let realtime;
let client;
// Further clients on the same Realtime, so on the same socket (`loginAlso`, `as`).
const clients = {};

const ops = {
  init({ version, appId, appKey, server, rtmServers, noBinary, signKey }) {
    sdk = require(version === 4 ? 'realtime4' : 'realtime5');
    const options = { appId, appKey, server };
    if (rtmServers) options.RTMServers = rtmServers;
    if (noBinary) options.noBinary = true;
    realtime = new sdk.Realtime(options);
    if (signKey) signWith(appId, signKey, version);
    for (const name of ['disconnect', 'schedule', 'retry', 'reconnect']) {
      realtime.on(name, () => events.push(name));
    }
    return true;
  },

  async login(id, clientOptions = {}) {
    client = await realtime.createIMClient(id, { ...signing, ...clientOptions });
    listen(client, '');
    return client.id;
  },

  // Another client on this peer's socket; its events are recorded as `<id>>event`.
  async loginAlso(id) {
    clients[id] = await realtime.createIMClient(id, signing);
    listen(clients[id], `${id}>`);
    return clients[id].id;
  },

  // Runs `op` as the client `id` of `loginAlso` (do not overlap with other calls).
  async as(id, op, ...args) {
    const first = client;
    client = clients[id];
    try {
      return await ops[op](...args);
    } finally {
      client = first;
    }
  },

  // Sets `attrs` (keys may be dotted paths) and saves; returns what the SDK then holds.
  async update(cid, attrs) {
    const conversation = await client.getConversation(cid);
    for (const [key, value] of Object.entries(attrs)) conversation.set(key, value);
    await conversation.save();
    return { name: conversation.name, attr: conversation.get('attr'), updatedAt: conversation.updatedAt.getTime() };
  },

  async mute(cid, mute) {
    const conversation = await client.getConversation(cid);
    await (mute ? conversation.mute() : conversation.unmute());
    return { muted: conversation.muted, mutedMembers: [...conversation.mutedMembers].sort() };
  },

  async count(cid) {
    return (await client.getConversation(cid)).count();
  },

  async read(cid) {
    await (await client.getConversation(cid)).read();
    return true;
  },

  async receiptTimestamps(cid) {
    const conversation = await client.getConversation(cid);
    await conversation.fetchReceiptTimestamps();
    const time = (date) => (date ? date.getTime() : null);
    return { lastReadAt: time(conversation.lastReadAt), lastDeliveredAt: time(conversation.lastDeliveredAt) };
  },

  async updateMemberRole(cid, memberId, role) {
    await (await client.getConversation(cid)).updateMemberRole(memberId, role);
    return true;
  },

  async allMemberInfo(cid) {
    const infos = await (await client.getConversation(cid)).getAllMemberInfo({ noCache: true });
    return infos.map(({ memberId, role, isOwner }) => ({ memberId, role, isOwner }))
      .sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  },

  async createTemporaryConversation(members, ttl) {
    const conversation = await client.createTemporaryConversation({ members, ttl });
    return { id: conversation.id, expiredAt: conversation.expiredAt.getTime() };
  },

  // Makes the SDK believe a temporary conversation lives on, so the server must refuse.
  async pretendAlive(cid) {
    (await client.getConversation(cid)).expiredAt = Date.now() + 1000000;
    return true;
  },

  async addMembers(cid, ids) {
    const conversation = await client.getConversation(cid);
    const result = await conversation.add(ids);
    return { successfulClientIds: result.successfulClientIds, failures: result.failures.length };
  },

  async join(cid) {
    await (await client.getConversation(cid)).join();
    return true;
  },

  async quit(cid) {
    await (await client.getConversation(cid)).quit();
    return true;
  },

  // `verb` is one of muteMembers, unmuteMembers, blockMembers, unblockMembers.
  async moderate(verb, cid, ids) {
    const result = await (await client.getConversation(cid))[verb](ids);
    return { successfulClientIds: result.successfulClientIds, failures: result.failures.length };
  },

  async queryBlocked(cid) {
    const { results } = await (await client.getConversation(cid)).queryBlockedMembers();
    return results;
  },

  async members(cid) {
    const conversation = await client.getConversation(cid, true);
    return [...conversation.members].sort();
  },

  async createConversation(members, unique, name) {
    const conversation = await client.createConversation({ members, unique, name });
    return conversation.id;
  },

  async send(cid, text) {
    const conversation = await client.getConversation(cid);
    const message = await conversation.send(new sdk.TextMessage(text));
    return { id: message.id, timestamp: message.timestamp.getTime() };
  },

  // Which of `ids` are online (session/query).
  online: (ids) => client.ping(ids),

  received: () => received,
  events: () => events,
  unread: (cid) => unread[cid],

  async waitFor(what, arg, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    const done = {
      received: () => received.length >= arg,
      // The `unread` push may be handled before `login` could add its listener, so look at
      // the conversation's count as well as at the events.
      unread: async () =>
        unread[arg.cid] === arg.count || (await client.getConversation(arg.cid)).unreadMessagesCount === arg.count,
      event: () => events.includes(arg),
      eventStartingWith: () => events.some((e) => e.startsWith(arg)),
    }[what];
    while (!(await done())) {
      if (Date.now() > deadline) {
        const seen = what === 'unread' ? await client.getConversation(arg.cid) : null;
        const state = seen && { count: seen.unreadMessagesCount, last: seen.lastMessage && seen.lastMessage.text };
        throw new Error(`timed out waiting for ${what} ${JSON.stringify(arg)}; received=${received.length} ` +
          `unread=${JSON.stringify(unread)} events=${events} conversation=${JSON.stringify(state)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  },

  // Every page of history, newest page first, through the SDK's iterator.
  async history(cid, limit) {
    const conversation = await client.getConversation(cid);
    const iterator = conversation.createMessagesIterator({ limit });
    const pages = [];
    for (;;) {
      const { value, done } = await iterator.next();
      pages.push(value.map((m) => m.text));
      if (done) return pages;
    }
  },

  async conversation(cid, cached = false) {
    const conversation = await client.getConversation(cid, !cached);
    return conversation && {
      id: conversation.id, name: conversation.name, members: conversation.members, attr: conversation.get('attr'),
      mutedMembers: conversation.mutedMembers && [...conversation.mutedMembers].sort(),
    };
  },

  async myConversations() {
    const found = await client.getQuery().find();
    return found.map((c) => c.id);
  },

  async close() {
    await client.close();
    return true;
  },
};

// Records `c`'s events (prefixed with `tag`) and received messages.
function listen(c, tag) {
  c.on('conflict', ({ reason }) => events.push(`${tag}conflict:${reason}`));
  c.on('close', ({ code }) => events.push(`${tag}close:${code}`));
  // The client's own `reconnect` comes once its session is open again; the Realtime's
  // (recorded as `reconnect`) comes as soon as the socket is back, before that.
  c.on('reconnect', () => events.push(`${tag}session-reopened`));
  c.on('message', (message, conversation) => {
    const got = { id: message.id, cid: conversation.id, from: message.from, text: message.text };
    received.push(tag ? { ...got, to: c.id } : got);
  });
  c.on('invited', (payload, conversation) => events.push(`${tag}invited:${conversation.id}`));
  // Membership, mute and blacklist events as `name:cid[:members]`.
  for (const name of ['kicked', 'membersjoined', 'membersleft', 'muted', 'unmuted', 'membersmuted',
    'blocked', 'unblocked', 'membersblocked']) {
    c.on(name, (payload = {}, conversation) => {
      const members = payload.members ? `:${[...payload.members].sort().join(',')}` : '';
      events.push(`${tag}${name}:${conversation.id}${members}`);
    });
  }
  // `infoupdated:cid:<attributes as JSON>:by` and `memberinfoupdated:cid:member:role:by`.
  c.on('conversationinfoupdated', ({ attributes, updatedBy }, conversation) => {
    events.push(`${tag}infoupdated:${conversation.id}:${JSON.stringify(attributes)}:${updatedBy}`);
  });
  c.on('memberinfoupdated', ({ member, memberInfo, updatedBy }, conversation) => {
    events.push(`${tag}memberinfoupdated:${conversation.id}:${member}:${memberInfo.role}:${updatedBy}`);
  });
  c.on('unreadmessagescountupdate', (conversations) => {
    for (const conv of conversations) unread[conv.id] = conv.unreadMessagesCount;
  });
}

// What an app's server does (spec/leancloud-im.md §7): HMAC-SHA1 over the action's message
// string, keyed by the master key. Here the "app server" lives in the peer.
let signing = {};
function signWith(appId, key, version) {
  const sign = (message) => crypto.createHmac('sha1', key).update(message).digest('hex');
  const signed = (fields, action) => {
    const timestamp = Date.now();
    const nonce = crypto.randomBytes(4).toString('hex');
    const message = [appId, ...fields, timestamp, nonce, ...(action ? [action] : [])].join(':');
    return { signature: sign(message), timestamp, nonce };
  };
  signing = {
    signatureFactory: (clientId) => signed([clientId, '']),
    conversationSignatureFactory: (conversationId, clientId, targetIds, action) =>
      conversationId
        ? signed([clientId, conversationId, [...targetIds].sort().join(':')], action)
        : signed([clientId, [...targetIds].sort().join(':')]),
    // 4.x hands this factory the client id first and the conversation id second, against its
    // own docs; an app that worked with LeanCloud swapped them back, as this one does.
    blacklistSignatureFactory: (first, second, targetIds, action) => {
      const [conversationId, clientId] = version === 4 ? [second, first] : [first, second];
      return signed([clientId, conversationId, [...targetIds].sort().join(':')], action);
    },
  };
}

process.on('message', async ({ id, op, args }) => {
  try {
    const result = await ops[op](...args);
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: { message: error.message, code: error.code, name: error.name } });
  }
});
