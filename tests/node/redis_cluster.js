'use strict';
// A real Redis Cluster for the Node tests of the Redis tier on a cluster (issue 17): 3 masters and
// 3 replicas of Debian's redis-server on free loopback ports in a temporary directory
// (`cluster-enabled yes`, `cluster-node-timeout 1000`, no persistence), joined by
// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, and stopped at the end.
// Faults are real: kill(port) is SIGKILL of one node; waitMaster(slot, notPort) waits until a
// replica has taken over that slot and the cluster is ok again.
//
// skipReason() says why the tests cannot run (no redis-server, no redis-cli, no node-redis), or
// null; the test files pass it as `skip` so the reason is printed.
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { binary, skipReason: serverSkipReason, sleep } = require('./redis_server');

const NODES = 6;
const START_TIMEOUT_MS = 20000;

function skipReason() {
  const r = serverSkipReason();
  if (r !== null) return r;
  if (binary('redis-cli') === null) return 'redis-cli is not installed (scripts/setup installs it)';
  return null;
}

// `count` distinct free loopback ports (held open together so none repeats).
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}

function run(file, args, timeoutMs = START_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${err}\n${stderr}`));
      else resolve(String(stdout));
    });
  });
}

class RedisCluster {
  constructor() {
    this.server = binary('redis-server');
    this.cli = binary('redis-cli');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-cluster-'));
    this.ports = [];
    this.procs = new Map(); // port -> child process (running)
  }

  // redis://127.0.0.1:<port> of every node (the seeds a client may be given).
  get urls() {
    return this.ports.map((p) => `redis://127.0.0.1:${p}`);
  }

  async start() {
    this.ports = await freePorts(NODES);
    process.on('exit', () => {
      for (const p of this.procs.values()) p.kill('SIGKILL');
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
    for (const port of this.ports) this._spawn(port);
    for (const port of this.ports) await this._waitPing(port);
    await run(this.cli, [
      '--cluster',
      'create',
      ...this.ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await this.waitOk(this.ports);
    await this._waitReplicas();
  }

  // Waits until every replica finished its first sync (a replica that never synced cannot take
  // over from its master).
  async _waitReplicas() {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (const port of this.ports) {
      for (;;) {
        const info = await this.cmd(port, ['INFO', 'replication']);
        if (info.includes('role:master') || info.includes('master_link_status:up')) break;
        if (Date.now() > deadline) throw new Error(`replica ${port} did not sync`);
        await sleep(50);
      }
    }
  }

  _spawn(port) {
    const dir = path.join(this.dir, String(port));
    fs.mkdirSync(dir, { recursive: true });
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly'];
    args.push('no', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-node-timeout', '1000');
    args.push('--cluster-config-file', `nodes-${port}.conf`, '--repl-diskless-sync-delay', '0');
    const log = fs.openSync(path.join(dir, 'redis.log'), 'a');
    const proc = spawn(this.server, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.procs.set(port, proc);
  }

  async _waitPing(port) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        if ((await this.cmd(port, ['PING'])).trim() === 'PONG') return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
      await sleep(20);
    }
  }

  // redis-cli's plain output of one command to one node.
  cmd(port, args) {
    return run(this.cli, ['-h', '127.0.0.1', '-p', String(port), ...args], 5000);
  }

  // Waits until every node in `ports` says cluster_state:ok and they agree on the slots' masters.
  async waitOk(ports = [...this.procs.keys()], timeoutMs = START_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok = true;
      let seen = null;
      for (const port of ports) {
        try {
          const info = await this.cmd(port, ['CLUSTER', 'INFO']);
          if (!info.includes('cluster_state:ok')) ok = false;
          const map = JSON.stringify(await this.slotMasters(port));
          if (seen !== null && map !== seen) ok = false;
          seen = map;
        } catch {
          ok = false;
        }
        if (!ok) break;
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok');
      await sleep(50);
    }
  }

  // [[from, to, master port]...] as a node sees the slots (CLUSTER SLOTS), sorted.
  async slotMasters(port) {
    const text = await this.cmd(port, ['--json', 'CLUSTER', 'SLOTS']).catch(() => null);
    if (text === null) throw new Error('no answer');
    return JSON.parse(text)
      .map((r) => [r[0], r[1], r[2][1]])
      .sort((a, b) => a[0] - b[0]);
  }

  // The master port of the slot of `name`, asked of a running node.
  async masterOf(name) {
    const port = [...this.procs.keys()][0];
    const slot = Number((await this.cmd(port, ['CLUSTER', 'KEYSLOT', name])).trim());
    for (const [from, to, master] of await this.slotMasters(port)) {
      if (slot >= from && slot <= to) return { slot, port: master };
    }
    throw new Error(`no master for slot ${slot}`);
  }

  // SIGKILL of one node, as a crash.
  async kill(port) {
    const proc = this.procs.get(port);
    this.procs.delete(port);
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  // Waits until the slot is served by a master other than `deadPort` and the cluster is ok.
  async waitMaster(name, deadPort, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const m = await this.masterOf(name);
        if (m.port !== deadPort) {
          await this.waitOk([...this.procs.keys()], Math.max(1000, deadline - Date.now()));
          return m;
        }
      } catch {
        // asked a node in the middle of the failover
      }
      if (Date.now() > deadline) throw new Error(`no replica took over from ${deadPort}`);
      await sleep(50);
    }
  }

  async stop() {
    const procs = [...this.procs.values()];
    this.procs.clear();
    await Promise.all(
      procs.map((proc) => {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL'); // no persistence: nothing to shut down cleanly
        return exited;
      }),
    );
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { RedisCluster, freePorts, skipReason, sleep };
