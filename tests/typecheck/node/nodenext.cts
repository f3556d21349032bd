// A CommonJS user program compiled under module nodenext (tsconfig.nodenext.json), where
// TypeScript interoperates like Node: `import x from` a CommonJS module gives its exports object
// (through esModuleInterop's __importDefault), and `import x = require()` the same object.
import twincache = require('twincache');
import interop from 'twincache';
import { memoize, native } from 'twincache';
import { check } from './shared.js';

// @ts-expect-error: the CommonJS entry has no `default` property
check(twincache.default === undefined, 'no default property');
check(interop.memoize === memoize && twincache.memoize === memoize, 'one exports object');
const sq = interop.memoize((x: number) => x * x);
const nine: number = sq(3);
check(nine === 9 && sq.stats().misses === 1, 'memoize through the default import');
console.log(`nodenext.cts: ok ${native ? 'native' : 'pure'}`);
