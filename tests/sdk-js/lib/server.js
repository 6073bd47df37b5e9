// Starts the xinshi binary on an ephemeral 127.0.0.1 port with a fresh data directory.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const APP_ID = 'sdk-test-app';
const APP_KEY = 'sdk-test-key';
const BIN = process.env.XINSHI_BIN || path.resolve(__dirname, '../../../target/debug/xinshi');

class Server {
  constructor() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xinshi-sdk-'));
    this.port = 0;
  }

  // Starts the server (again, on the same port and data directory after the first time).
  async start() {
    const env = {
      ...process.env,
      XINSHI_SERVER_LISTEN: `127.0.0.1:${this.port}`,
      XINSHI_STORAGE_DATA_DIR: this.dataDir,
      XINSHI_APP_ID: APP_ID,
      XINSHI_APP_KEY: APP_KEY,
      XINSHI_LOG: process.env.XINSHI_LOG || 'warn',
    };
    this.proc = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.exited = exited;
    this.port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`xinshi did not start: ${out}`)), 20000);
      this.proc.stdout.on('data', (chunk) => {
        out += chunk;
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      exited.then((code) => reject(new Error(`xinshi exited with ${code}: ${out}`)));
    });
    this.proc.stdout.resume();
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/`;
  }

  // Stops the server gracefully (SIGTERM) and waits for it to exit.
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0) throw new Error(`xinshi exited with ${code}`);
  }

  async destroy() {
    await this.stop().catch(() => {});
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function startServer() {
  return new Server().start();
}

module.exports = { APP_ID, APP_KEY, startServer };
