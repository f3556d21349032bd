'use strict';
// The CMake configure step that build-native.js and build-disk.js share. Two build folders:
//   build/node           the developer's build: the system compiler and libraries
//   build/node-portable  --portable: zig targeting glibc 2.28 (scripts/portable-toolchain) with
//                        SQLite, zstd and xxhash.h fetched from PyPI and linked statically, so
//                        the addons load on glibc >= 2.28 with nothing but libc, libm and the
//                        loader. This is what `npm pack` ships (package.json prepack).
// Uses only node_modules headers (node-api-headers, node-addon-api) for Node-API.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const jobs = process.env.TWINCACHE_JOBS || '2';

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

// --build-only: build, but leave node/prebuilds/ as it is (scripts/test-node builds the portable
// addons while the tests load the developer's build from there).
function parseArgs(script) {
  const args = process.argv.slice(2);
  for (const a of args) {
    if (a !== '--portable' && a !== '--build-only') {
      console.error(`${script}: unknown argument '${a}' (allowed: --portable, --build-only)`);
      process.exit(2);
    }
  }
  return { portable: args.includes('--portable'), buildOnly: args.includes('--build-only') };
}

// Configures (once) and returns the build folder.
function configure({ portable }) {
  for (const pkg of ['node-api-headers', 'node-addon-api']) {
    if (!fs.existsSync(path.join(root, 'node_modules', pkg))) {
      console.error(`build: node_modules/${pkg} is missing; run scripts/setup first`);
      process.exit(1);
    }
  }
  const build = path.join(root, 'build', portable ? 'node-portable' : 'node');
  if (fs.existsSync(path.join(build, 'CMakeCache.txt'))) {
    // Re-run CMake so a build folder made before a target existed learns about it.
    run('cmake', [build]);
    return build;
  }
  const generator = (() => {
    try {
      execFileSync('ninja', ['--version'], { stdio: 'ignore' });
      return ['-G', 'Ninja'];
    } catch {
      return [];
    }
  })();
  const extra = [];
  if (portable) {
    const bin = execFileSync(path.join(root, 'scripts', 'portable-toolchain'), {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    extra.push(
      `-DCMAKE_C_COMPILER=${path.join(bin, 'cc')}`,
      `-DCMAKE_CXX_COMPILER=${path.join(bin, 'c++')}`,
      '-DTWINCACHE_DEPS=fetched',
    );
  }
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
    ...extra,
  ]);
  return build;
}

// Builds one target and copies its file to node/prebuilds/<platform>-<arch>/ (not with
// --build-only).
function buildInto(build, target, builtRel, script, { buildOnly = false } = {}) {
  run('cmake', ['--build', build, '--target', target, '--parallel', jobs]);
  const built = path.join(build, builtRel);
  if (!fs.existsSync(built)) {
    console.error(`${script}: ${target} was not built (see the CMake warnings above)`);
    process.exit(1);
  }
  if (buildOnly) {
    console.log(`${script}: ${path.relative(root, built)} (built only)`);
    return;
  }
  const dir = path.join(root, 'node', 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, path.basename(builtRel));
  fs.copyFileSync(built, dest);
  console.log(`${script}: ${path.relative(root, dest)}`);
}

module.exports = { configure, buildInto, parseArgs, root };
