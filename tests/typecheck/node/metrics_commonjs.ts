// A CommonJS user program of twincache/metrics (tsconfig.commonjs.json: module commonjs, node10
// resolution, which reads package.json's "typesVersions" for the subpath), compiled with tsc
// --strict and run, native and TWINCACHE_PURE=1, by scripts/test-types.
import metrics = require('twincache/metrics');
import { Registry } from 'prom-client';
import { Cache } from 'twincache';
import { check } from './shared';

const registry = new Registry();
const c = new Cache<string, number>();
const name: string = metrics.register(c, { name: 'c', registry });
check(name === 'c' && metrics.collector(registry).names().join() === 'c', 'registered');
// @ts-expect-error: options is an object
check(typeof (() => metrics.register(c, 'c')) === 'function', 'not called');
console.log('metrics_commonjs.ts: ok');
