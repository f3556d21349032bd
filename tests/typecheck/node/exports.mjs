// The declarations match the entries exactly (scripts/test-types runs this, native and pure):
// the value exports node/index.d.ts declares, read with the TypeScript compiler API, are the keys
// of the CommonJS entry's module.exports (no `default` among them) and the named exports of the
// ES module entry, whose only other export is `default`, the CommonJS exports object.
import { createRequire } from 'node:module';
import path from 'node:path';
import assert from 'node:assert/strict';

const root = process.argv[2];
const require = createRequire(path.join(root, 'package.json'));
const ts = require('typescript');
const pkg = require('./package.json');

const dts = path.join(root, pkg.types);
const program = ts.createProgram([dts], { strict: true, types: [] });
const checker = program.getTypeChecker();
const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(dts));
const declared = checker
  .getExportsOfModule(moduleSymbol)
  .filter((s) => {
    // `export default x` and `export { x as y }` are aliases: what they name decides.
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    return target.flags & ts.SymbolFlags.Value;
  })
  .map((s) => s.getName())
  .sort();

const cjs = require('twincache');
const esm = await import('twincache');
assert.deepEqual(Object.keys(cjs).sort(), declared, 'CommonJS module.exports vs index.d.ts');
assert.ok(!('default' in cjs), 'the CommonJS entry has no default export');
assert.ok(!declared.includes('default'), 'index.d.ts declares no default export');
const named = Object.keys(esm).filter((k) => k !== 'default');
assert.deepEqual(named.sort(), declared, 'ES module named exports vs index.d.ts');
assert.equal(esm.default, cjs, "the ES module's default export is the CommonJS exports object");
for (const name of declared) assert.equal(esm[name], cjs[name], `${name}: one value`);
console.log(`exports.mjs: ok, ${declared.join(', ')}`);
