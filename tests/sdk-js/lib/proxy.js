// A TCP proxy between an SDK and the server, to cut connections like a network failure.
'use strict';

const net = require('node:net');

class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.blocked = false;
    this.server = net.createServer((client) => this.accept(client));
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(this)));
  }

  get port() {
    return this.server.address().port;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/`;
  }

  accept(client) {
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      this.sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
  }

  // Cuts every connection and refuses new ones until `unblock()`.
  cut() {
    this.blocked = true;
    for (const socket of this.sockets) socket.destroy();
  }

  unblock() {
    this.blocked = false;
  }

  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { Proxy };
