'use strict';
// Every JavaScript block in README.md and docs/*.md runs as shown: this file extracts them and
// runs each one with node in a fresh temporary directory (the working directory and HOME, with
// node_modules/twincache linked to this checkout), in whichever mode the suite runs (native, or
// TWINCACHE_PURE=1 inherited from the environment). tests/python/test_docs.py runs the Python and
// shell blocks and documents the conventions both read:
//   <!-- docs-test: skip: REASON -->   before a fence: not run, reported as skipped with REASON
//   <!-- docs-test: continues -->      before a fence: runs after the previous js block
//   <!-- docs-test: prelude js ... --> code run before every js block of the file (stubs)
//   <!-- docs-test: raises js -->      before a block of `EXPRESSION  Error: message` lines: each
//                                      expression must throw that error with that message
// A block that imports is an ES module, one that requires is CommonJS (so top-level await is an
// error there, as it would be for a user); a block that does neither is a fragment of the page
// and runs as an ES module with the package's exports in scope. The info string `mjs` or `cjs`
// forces the module kind.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const JS = new Set(['js', 'javascript', 'mjs', 'cjs']);
const MARKER = /^\s*<!--\s*docs-test:\s*(skip|continues|raises)\b:?\s*(.*?)\s*-->\s*$/;
const PRELUDE = /^\s*<!--\s*docs-test:\s*prelude\s+(\w+)\s*$/;
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)(.*)$/;
const FRAGMENT_HEADER =
  "import { memoize, Cache, ByteCache, DiskCache, RedisCache, native } from 'twincache';\n";

function docFiles() {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join('docs', f));
  return ['README.md', ...docs];
}

// The fenced blocks of one Markdown file ({ line, info, code, skip, continues }) and its preludes.
function parse(rel) {
  const lines = fs.readFileSync(path.join(ROOT, rel), 'utf8').split('\n');
  const blocks = [];
  const preludes = {};
  for (let i = 0; i < lines.length; i++) {
    const prelude = PRELUDE.exec(lines[i]);
    if (prelude) {
      let end = i + 1;
      while (end < lines.length && lines[end].trim() !== '-->') end++;
      const lang = JS.has(prelude[1]) ? 'js' : prelude[1];
      preludes[lang] = lines.slice(i + 1, end).join('\n') + '\n';
      i = end;
      continue;
    }
    const fence = FENCE.exec(lines[i]);
    if (!fence) continue;
    const [, indent, mark, rawInfo] = fence;
    const info = rawInfo.toLowerCase();
    const close = new RegExp(`^\\s*\\${mark[0]}{${mark.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end])) end++;
    const body = lines
      .slice(i + 1, end)
      .map((ln) => (ln.startsWith(indent) ? ln.slice(indent.length) : ln));
    let p = i - 1;
    while (p >= 0 && lines[p].trim() === '') p--;
    const marker = p >= 0 ? MARKER.exec(lines[p]) : null;
    blocks.push({
      file: rel,
      line: i + 1,
      info,
      code: body.join('\n') + '\n',
      skip: marker && marker[1] === 'skip' ? marker[2] || 'no reason given' : null,
      continues: Boolean(marker && marker[1] === 'continues'),
      raises: marker && marker[1] === 'raises' ? marker[2] : null,
    });
    i = end;
  }
  return { blocks, preludes };
}

// The code a block runs: itself after the js blocks it continues.
function program(blocks, index) {
  const parts = [blocks[index].code];
  let j = index;
  while (blocks[j].continues) {
    do j--;
    while (j >= 0 && !JS.has(blocks[j].info));
    assert.ok(j >= 0, `${blocks[index].file}:${blocks[index].line} continues no earlier js block`);
    parts.unshift(blocks[j].code);
  }
  return parts.join('');
}

function moduleKind(info, code) {
  if (info === 'mjs' || info === 'cjs') return info;
  if (/^\s*(import|export)\s/m.test(code)) return 'mjs';
  if (/\brequire\s*\(/.test(code)) return 'cjs';
  return 'fragment';
}

function runBlock(block, code) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-docs-'));
  try {
    fs.mkdirSync(path.join(dir, 'home'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'twincache'), 'dir');
    const kind = moduleKind(block.info, code);
    const file = path.join(dir, kind === 'cjs' ? 'block.cjs' : 'block.mjs');
    fs.writeFileSync(file, (kind === 'fragment' ? FRAGMENT_HEADER : '') + code);
    const env = { ...process.env, HOME: path.join(dir, 'home') };
    delete env.TWINCACHE_DIR;
    delete env.XDG_CACHE_HOME;
    delete env.NODE_OPTIONS; // node --test's own flags are not the user's
    const proc = spawnSync(process.execPath, [file], {
      cwd: dir,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { kind, code: (kind === 'fragment' ? FRAGMENT_HEADER : '') + code, proc };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// [expression, error name, message] for each case of a 'raises' block (the grammar of
// tests/python/test_docs.py: `EXPRESSION  Error: message`, or the expression alone and the error
// on the next indented line; a message goes on over indented lines).
function raisesCases(block) {
  const cases = [];
  for (const ln of block.code.split('\n')) {
    if (!ln.trim()) continue;
    if (!/^\s/.test(ln)) {
      const m = /^(\S.*?)\s{2,}(\w+): (.*)$/.exec(ln);
      cases.push(m ? [m[1], m[2], m[3]] : [ln.trim(), '', '']);
      continue;
    }
    assert.ok(cases.length > 0, `${block.file}:${block.line}: an indented line opens the block`);
    const last = cases[cases.length - 1];
    const m = /^(\w+): (.*)$/.exec(ln.trim());
    if (!last[1] && m) [last[1], last[2]] = [m[1], m[2]];
    else last[2] += ' ' + ln.trim();
  }
  assert.ok(cases.length > 0 && cases.every((c) => c[1]), `${block.file}:${block.line}`);
  return cases;
}

function checkRaises(block) {
  const twincache = require('twincache');
  for (const [expr, error, message] of raisesCases(block)) {
    const run = new Function(...Object.keys(twincache), `return ${expr};`);
    assert.throws(() => run(...Object.values(twincache)), { name: error, message }, expr);
  }
}

let total = 0;
for (const rel of docFiles()) {
  const { blocks, preludes } = parse(rel);
  total += blocks.length;
  blocks.forEach((block, index) => {
    if (block.raises === 'js') {
      test(`${block.file}:${block.line} (raises)`, () => checkRaises(block));
      return;
    }
    if (!JS.has(block.info)) return;
    const name = `${block.file}:${block.line}`;
    if (block.skip !== null) {
      test(name, { skip: `${name} (${block.info}): ${block.skip}` }, () => {});
      return;
    }
    test(name, () => {
      const { kind, code, proc } = runBlock(block, (preludes.js || '') + program(blocks, index));
      assert.equal(
        proc.status,
        0,
        `${name} failed as ${kind} (exit ${proc.status}, ${proc.error || 'no spawn error'})\n` +
          `--- code\n${code}--- stdout\n${proc.stdout}--- stderr\n${proc.stderr}`,
      );
    });
  });
}

test('the extractor found the docs', () => {
  assert.ok(total > 30, `only ${total} blocks found`);
});
