'use strict';
// A real redis-server for the Redis tier's Node tests (the twin of tests/python/redis_server.py):
// started on a free loopback port with no persistence in a temporary directory, and stopped at
// the end. Faults are real signals: kill() (SIGKILL), restart() on the same port, pause()
// (SIGSTOP) and resume() (SIGCONT). And Proxy, a loopback TCP proxy in front of it that adds
// latency or blackholes traffic (accepts and reads, forwards nothing), as a slow or partitioned
// network would.
//
// skipReason() says why a test file cannot run (no redis-server, no node-redis), or null; the
// test files pass it as `skip` so the reason is printed.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const START_TIMEOUT_MS = 10000;

// The executable `name` (redis-server, redis-cli) on PATH, else in /usr/bin; null without one.
function binary(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter).concat(['/usr/bin'])) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not there
    }
  }
  return null;
}

function skipReason() {
  if (binary('redis-server') === null)
    return 'redis-server is not installed (scripts/setup installs it)';
  try {
    require.resolve('redis');
  } catch {
    return 'node-redis is not installed (npm install redis)';
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Whether a server answers PING on the port.
function pings(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class RedisServer {
  constructor() {
    this.binary = binary('redis-server');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-redis-'));
    this.port = 0;
    this.proc = null;
    this.paused = false;
    this.exitHook = false;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start() {
    if (this.port === 0) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', ''];
    args.push('--appendonly', 'no', '--dir', this.dir);
    const log = fs.openSync(path.join(this.dir, 'redis.log'), 'a');
    this.proc = spawn(this.binary, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    // A test run that ends without after() (a timeout, a crash) must not leave its server behind.
    if (!this.exitHook) {
      this.exitHook = true;
      process.on('exit', () => {
        if (this.proc !== null) this.proc.kill('SIGKILL');
        fs.rmSync(this.dir, { recursive: true, force: true });
      });
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await pings(this.port))) {
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        const text = fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8').slice(-2000);
        throw new Error(`redis-server did not start on port ${this.port}:\n${text}`);
      }
      await sleep(20);
    }
  }

  // SIGKILL, as a crash: no shutdown, connections reset.
  async kill() {
    if (this.paused) this.resume();
    const proc = this.proc;
    this.proc = null;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  // A fresh (empty) server on the same port.
  async restart() {
    if (this.proc !== null) await this.kill();
    await this.start();
  }

  // SIGSTOP: the port still accepts connections (the kernel does) but nothing answers.
  pause() {
    this.proc.kill('SIGSTOP');
    this.paused = true;
  }

  resume() {
    this.proc.kill('SIGCONT');
    this.paused = false;
  }

  async stop() {
    if (this.proc !== null) {
      if (this.paused) this.resume();
      const proc = this.proc;
      this.proc = null;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // A plain node-redis client (Buffers back) for looking at what the caches wrote.
  async client() {
    const { createClient, RESP_TYPES } = require('redis');
    const c = createClient({ url: this.url }).withTypeMapping({
      [RESP_TYPES.BLOB_STRING]: Buffer,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  }

  // { command: calls } from INFO commandstats (counted by the server itself).
  async commandCalls() {
    const c = await this.client();
    try {
      const text = String(await c.sendCommand(['INFO', 'commandstats']));
      const out = {};
      for (const m of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
      return out;
    } finally {
      c.destroy();
    }
  }
}

// 127.0.0.1:<port> -> the server. `latency` (ms) delays every chunk in each direction (order
// kept); `blackhole` drops every byte from then on (connections stay open, nothing answers).
class Proxy {
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.latency = 0;
    this.blackhole = false;
    this.port = 0;
    this.sockets = new Set();
    this.server = net.createServer((down) => this._serve(down));
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  listen() {
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  _serve(down) {
    const up = net.connect(this.upstreamPort, '127.0.0.1');
    for (const s of [down, up]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    this._pump(down, up);
    this._pump(up, down);
  }

  _pump(from, to) {
    // Chunks leave in order: each waits for the one before it and for its own latency.
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      if (this.blackhole) return;
      const latency = this.latency;
      chain = chain.then(async () => {
        if (latency > 0) await sleep(latency);
        if (!this.blackhole && !to.destroyed) to.write(chunk);
      });
    });
  }

  close() {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { RedisServer, Proxy, binary, skipReason, sleep };
