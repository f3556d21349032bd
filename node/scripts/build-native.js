#!/usr/bin/env node
'use strict';
// Builds the Node addon from the project's one CMake graph and copies it to
// node/prebuilds/<platform>-<arch>/twincache.napi.node, where node/lib/binding.js loads it and
// where `npm pack` (prepack) picks it up. At most 2 parallel jobs (shared machines).
//   node node/scripts/build-native.js              build/node, the system compiler
//   node node/scripts/build-native.js --portable   build/node-portable, glibc >= 2.28
//   --build-only                                   builds, copies nothing into node/prebuilds/
const { configure, buildInto, parseArgs } = require('./configure');

const args = parseArgs('build-native');
const build = configure(args);
buildInto(build, 'twincache_node', 'node/twincache.napi.node', 'build-native', args);
