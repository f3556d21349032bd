#!/usr/bin/env node
'use strict';
// Builds the disk tier's addon (twincache_disk.napi.node, node/src/disk.cmake) in build/node, the
// same CMake build as build-native.js, and copies it to node/prebuilds/<platform>-<arch>/, where
// node/lib/disk.js loads it (lazily). At most 2 parallel jobs.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const build = path.join(root, 'build', 'node');
const jobs = process.env.TWINCACHE_JOBS || '2';

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

if (!fs.existsSync(path.join(build, 'CMakeCache.txt'))) {
  run('node', [path.join(__dirname, 'build-native.js')]);
} else {
  // Re-run CMake so a build directory made before the disk target existed learns about it.
  run('cmake', [build]);
}
run('cmake', ['--build', build, '--target', 'twincache_disk_node', '--parallel', jobs]);

const built = path.join(build, 'twincache_disk.napi.node');
const dir = path.join(root, 'node', 'prebuilds', `${process.platform}-${process.arch}`);
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(built, path.join(dir, 'twincache_disk.napi.node'));
console.log(`build-disk: ${path.relative(root, path.join(dir, 'twincache_disk.napi.node'))}`);
