// Starts the xinshi binary on an ephemeral 127.0.0.1 port with a fresh data directory, or,
// with XINSHI_TEST_ENGINE=postgres, a fresh database on the PostgreSQL server whose admin
// URL is XINSHI_TEST_POSTGRES_URL (made and dropped with psql; tests/run sets both).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const APP_ID = 'sdk-test-app';
const APP_KEY = 'sdk-test-key';
const MASTER_KEY = 'sdk-test-master-key';
// A self-signed certificate for 127.0.0.1, made for the tests (tests/fixtures/tls).
const TLS_DIR = path.resolve(__dirname, '../../fixtures/tls');
const TLS_CERT = path.join(TLS_DIR, 'cert.pem');
const BIN = process.env.XINSHI_BIN || path.resolve(__dirname, '../../../target/debug/xinshi');
const PG_ADMIN = process.env.XINSHI_TEST_ENGINE === 'postgres' ? process.env.XINSHI_TEST_POSTGRES_URL : null;
if (process.env.XINSHI_TEST_ENGINE === 'postgres' && !PG_ADMIN) {
  throw new Error('XINSHI_TEST_ENGINE=postgres needs XINSHI_TEST_POSTGRES_URL (tests/run starts a PostgreSQL)');
}
let databases = 0;

function psql(sql) {
  execFileSync('psql', [PG_ADMIN, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

// A fresh database for one server (kept across its restarts): its URL.
function freshDatabase() {
  const name = `xinshi_sdk_${process.pid}_${databases++}`;
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

class Server {
  // `env`: more XINSHI_* settings; `tls`: also serve https:// and wss://; `database`: a
  // database another server uses too (a cluster), which this one does not drop.
  constructor({ env = {}, tls = false, database = null } = {}) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xinshi-sdk-'));
    this.port = 0;
    this.tlsPort = tls ? 0 : null;
    this.extraEnv = env;
    this.shared = database !== null;
    this.database = database || (PG_ADMIN ? freshDatabase() : null);
  }

  // Starts the server (again, on the same port and data directory after the first time).
  async start() {
    const env = {
      ...process.env,
      XINSHI_SERVER_LISTEN: `127.0.0.1:${this.port}`,
      XINSHI_STORAGE_DATA_DIR: this.dataDir,
      XINSHI_APP_ID: APP_ID,
      XINSHI_APP_KEY: APP_KEY,
      XINSHI_APP_MASTER_KEY: MASTER_KEY,
      XINSHI_LOG: process.env.XINSHI_LOG || 'warn',
      ...(this.database
        ? { XINSHI_STORAGE_ENGINE: 'postgres', XINSHI_STORAGE_POSTGRES_URL: this.database.url }
        : {}),
      ...this.extraEnv,
    };
    if (this.tlsPort !== null) {
      env.XINSHI_SERVER_TLS_LISTEN = `127.0.0.1:${this.tlsPort}`;
      env.XINSHI_SERVER_TLS_CERT = TLS_CERT;
      env.XINSHI_SERVER_TLS_KEY = path.join(TLS_DIR, 'key.pem');
    }
    this.proc = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.exited = exited;
    const wantTls = this.tlsPort !== null;
    [this.port, this.tlsPort] = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`xinshi did not start: ${out}`)), 20000);
      this.proc.stdout.on('data', (chunk) => {
        out += chunk;
        const plain = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        const tls = /listening with TLS on 127\.0\.0\.1:(\d+)/.exec(out);
        if (plain && (tls || !wantTls)) {
          clearTimeout(timer);
          resolve([Number(plain[1]), tls ? Number(tls[1]) : null]);
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

  get tlsUrl() {
    return `https://127.0.0.1:${this.tlsPort}`;
  }

  get wssUrl() {
    return `wss://127.0.0.1:${this.tlsPort}/`;
  }

  // Stops the server gracefully (SIGTERM) and waits for it to exit.
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0) throw new Error(`xinshi exited with ${code}`);
  }

  // SIGKILL (a crash), and waits for it to be gone.
  async kill() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async destroy() {
    await this.stop().catch(() => {});
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    if (this.database && !this.shared) psql(`DROP DATABASE IF EXISTS ${this.database.name} WITH (FORCE)`);
  }
}

async function startServer(options) {
  return new Server(options).start();
}

module.exports = { APP_ID, APP_KEY, MASTER_KEY, TLS_CERT, PG_ADMIN, Server, startServer, freshDatabase, psql };
