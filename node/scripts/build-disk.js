#!/usr/bin/env node
'use strict';
// Builds the disk tier's addon (twincache_disk.napi.node, node/src/disk.cmake), the same CMake
// build as build-native.js (same folder, same --portable and --build-only flags), and copies it to
// node/prebuilds/<platform>-<arch>/, where node/lib/disk.js loads it (lazily).
const { configure, buildInto, parseArgs } = require('./configure');

const args = parseArgs('build-disk');
const build = configure(args);
buildInto(build, 'twincache_disk_node', 'twincache_disk.napi.node', 'build-disk', args);
