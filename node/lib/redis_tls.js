'use strict';
// redis_tls.js: the `tls` option of the Redis tier (RedisCache, memoize with backend 'redis';
// docs/redis.md, "Use (Node)"): `{ ca, cert, key }` for a rediss:// URL, each a file path or the
// PEM itself (a Buffer), read once when the cache is made, so a missing file is an error of the
// constructor, not of the first call. What it returns is merged into node-redis's `socket`
// options (node:tls's connect options).
const fs = require('node:fs');
const { makeError, typeError } = require('./errors');

const TLS_FIELDS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'];

// ---- a guard against a node-redis 5 crash ------------------------------------------------------
//
// node-redis listens to its TLS socket's 'error' with `once`: a server that refuses the client's
// certificate under TLS 1.3 does so after the handshake (an alert, then a reset), so the socket
// emits two errors and the second, unlistened, throws out of the event loop and ends the process.
// The sockets of the clients twincache makes carry GUARD in their options (node-redis spreads
// them into tls.connect's, symbols included); tls.connect, wrapped once, gives such a socket a
// listener of its own, so every error after node-redis's first is dropped (the call that met the
// refusal has failed already and is counted). Other callers of tls.connect are untouched.
const GUARD = Symbol.for('twincache.redis.tlsGuard');
let guarded = false;

function ignore() {}

// Wraps tls.connect once (idempotent); returns the marker to put in a client's socket options.
function tlsGuard() {
  if (!guarded) {
    guarded = true;
    const tls = require('node:tls');
    const connect = tls.connect;
    tls.connect = function twincacheGuardedConnect(...args) {
      const socket = connect.apply(this, args);
      const o = args.find((a) => a !== null && typeof a === 'object');
      if (o !== undefined && o[GUARD] === true) socket.on('error', ignore);
      return socket;
    };
  }
  return GUARD;
}

// One PEM field: a Buffer as given, a string as a file path (read now), an array of either (ca).
function pemField(name, value) {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') {
    if (value.length === 0) {
      throw makeError('out_of_range', `tls.${name} must be a file path or a Buffer (got '')`);
    }
    try {
      return fs.readFileSync(value);
    } catch (err) {
      // The path is the user's own configuration, not a secret; the file's content never shows.
      const e = makeError(
        'out_of_range',
        `tls.${name} must name a readable file (got '${value}': ${err.code || err.message})`,
      );
      throw e;
    }
  }
  if (name === 'ca' && Array.isArray(value) && value.length > 0) {
    return value.map((v, i) => {
      if (!Buffer.isBuffer(v) && typeof v !== 'string') {
        throw typeError(`tls.ca[${i}]`, 'a file path or a Buffer', v);
      }
      return pemField('ca', v);
    });
  }
  throw typeError(`tls.${name}`, 'a file path or a Buffer', value);
}

// The checked `tls` option for these URLs: node:tls options ({ tls: true, ca, cert, key, ... }),
// or null without it. Every URL must be rediss:// (TLS); cert and key come together.
function tlsOption(value, urls, hasClient) {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw typeError('tls', 'an object { ca, cert, key }', value);
  }
  for (const name of Object.keys(value)) {
    if (!TLS_FIELDS.includes(name)) {
      throw makeError(
        'invalid_argument',
        `tls must only name ${TLS_FIELDS.join(', ')} (got '${name}')`,
      );
    }
  }
  if (hasClient) {
    throw makeError(
      'invalid_argument',
      'tls applies with url only (a client passed in keeps its own socket options)',
    );
  }
  for (const url of urls) {
    if (!url.startsWith('rediss:')) {
      // Only the scheme is shown: a URL may carry a password.
      const scheme = url.slice(0, url.indexOf(':') + 1);
      throw makeError('out_of_range', `tls needs rediss:// URLs (got a ${scheme}// url)`);
    }
  }
  if ((value.cert === undefined) !== (value.key === undefined)) {
    throw makeError('invalid_argument', 'tls.cert and tls.key go together (a client certificate)');
  }
  const out = { tls: true };
  for (const name of ['ca', 'cert', 'key']) {
    if (value[name] !== undefined) out[name] = pemField(name, value[name]);
  }
  if (value.servername !== undefined) {
    if (typeof value.servername !== 'string' || value.servername === '') {
      throw typeError('tls.servername', 'a host name', value.servername);
    }
    out.servername = value.servername;
  }
  if (value.rejectUnauthorized !== undefined) {
    if (typeof value.rejectUnauthorized !== 'boolean') {
      throw typeError('tls.rejectUnauthorized', 'a boolean', value.rejectUnauthorized);
    }
    out.rejectUnauthorized = value.rejectUnauthorized;
  }
  return out;
}

module.exports = { tlsOption, tlsGuard };
