// Forks SDK peers (lib/peer.js) and calls them.
'use strict';

const { fork } = require('node:child_process');
const path = require('node:path');
const { APP_ID, APP_KEY } = require('./server');

class Peer {
  constructor(env) {
    const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
    this.proc = fork(path.join(__dirname, 'peer.js'), [], { stdio, env: { ...process.env, ...env } });
    this.pending = new Map();
    this.next = 0;
    this.proc.on('message', ({ id, result, error }) => {
      const call = this.pending.get(id);
      this.pending.delete(id);
      if (!call) return;
      if (error) {
        call.reject(Object.assign(new Error(`${call.op}: ${error.message}`), error));
      } else {
        call.resolve(result);
      }
    });
    this.proc.on('exit', (code) => {
      for (const call of this.pending.values()) call.reject(new Error(`peer exited (${code}) during ${call.op}`));
      this.pending.clear();
    });
  }

  call(op, ...args) {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op, resolve, reject });
      this.proc.send({ id, op, args });
    });
  }

  kill() {
    this.proc.kill('SIGKILL');
  }
}

// A peer with a Realtime for `version` (4 or 5) pointed at `server`, logged in as `id`.
// `options`:
// - rtmServers: defaults to the server's WebSocket URL; `null` means "discover it through the router"
// - tls: use the server's https:// and wss:// addresses
// - noBinary, signKey (sign logins and conversation operations with this key), env (for the
//   peer process), clientOptions (for createIMClient, e.g. { tag })
async function peer(version, server, id, options = {}) {
  const p = new Peer(options.env);
  const url = options.tls ? server.tlsUrl : server.url;
  const wsUrl = options.tls ? server.wssUrl : server.wsUrl;
  const rtmServers = options.rtmServers === undefined ? wsUrl : options.rtmServers;
  // 4.x takes `server` as a bare host and always puts https:// in front of it.
  const base = version === 4 ? url.replace(/^https?:\/\//, '') : url;
  const { noBinary, signKey } = options;
  try {
    await p.call('init', { version, appId: APP_ID, appKey: APP_KEY, server: base, rtmServers, noBinary, signKey });
    p.id = await p.call('login', id, options.clientOptions);
  } catch (error) {
    p.kill();
    throw error;
  }
  return p;
}

module.exports = { peer };
