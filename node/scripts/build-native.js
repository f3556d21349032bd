#!/usr/bin/env node
'use strict';
// Builds the Node addon from the project's one CMake graph into build/node, then copies it to
// node/prebuilds/<platform>-<arch>/twincache.napi.node, where node/lib/binding.js loads it and
// where `npm pack` (prepack) picks it up. Uses only node_modules headers (node-api-headers,
// node-addon-api): nothing is downloaded. At most 2 parallel jobs (shared machines).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const build = path.join(root, 'build', 'node');
const jobs = process.env.TWINCACHE_JOBS || '2';

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

for (const pkg of ['node-api-headers', 'node-addon-api']) {
  if (!fs.existsSync(path.join(root, 'node_modules', pkg))) {
    console.error(`build-native: node_modules/${pkg} is missing; run scripts/setup first`);
    process.exit(1);
  }
}

if (!fs.existsSync(path.join(build, 'CMakeCache.txt'))) {
  const generator = (() => {
    try {
      execFileSync('ninja', ['--version'], { stdio: 'ignore' });
      return ['-G', 'Ninja'];
    } catch {
      return [];
    }
  })();
  run('cmake', [
    '-S',
    root,
    '-B',
    build,
    ...generator,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DTWINCACHE_BUILD_NODE=ON',
    '-DTWINCACHE_BUILD_TESTS=OFF',
    '-DTWINCACHE_BUILD_BENCH=OFF',
  ]);
}
run('cmake', ['--build', build, '--target', 'twincache_node', '--parallel', jobs]);

const built = path.join(build, 'node', 'twincache.napi.node');
const dir = path.join(root, 'node', 'prebuilds', `${process.platform}-${process.arch}`);
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(built, path.join(dir, 'twincache.napi.node'));
console.log(`build-native: ${path.relative(root, path.join(dir, 'twincache.napi.node'))}`);
