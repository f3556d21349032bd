'use strict';
// errors.js: the one place where the Node binding builds its errors, and the pure-JS twins of the
// core's checks (core/src/options.cpp). Native mode calls the core's parse_limit / parse_ttl /
// parse_policy through the addon, which hands back [codeName, message]; pure mode runs the ports
// below, which produce the same messages byte for byte ("<name> must be <range> (got <value>)").
//
// Error codes: `ERR_TWINCACHE_` + the core's status_code_name in upper case:
//   ERR_TWINCACHE_INVALID_ARGUMENT  TypeError   wrong type (not a number, not a function, ...)
//   ERR_TWINCACHE_OUT_OF_RANGE      RangeError  a number or name outside its allowed range
//   ERR_TWINCACHE_VALUE_TOO_LARGE   RangeError  an entry heavier than maxBytes; cache unchanged

const CODE_PREFIX = 'ERR_TWINCACHE_';

// Builds the error for a core status name ('invalid_argument', 'out_of_range', ...).
function makeError(statusName, message) {
  const err = statusName === 'invalid_argument' ? new TypeError(message) : new RangeError(message);
  err.code = CODE_PREFIX + statusName.toUpperCase();
  return err;
}

// How a wrong-typed value is shown in a message: its type, and the value when short.
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const s = value.length > 40 ? value.slice(0, 37) + '...' : value;
      return `string '${s}'`;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      return 'an object';
  }
}

function typeError(name, expected, value) {
  return makeError('invalid_argument', `${name} must be ${expected} (got ${describe(value)})`);
}

// The shortest round-trip form of a double, as C++'s std::to_chars(double) prints it: the same
// digits as JavaScript's String(), in fixed or scientific notation, whichever is shorter (fixed
// on a tie; integral values in fixed notation exactly); exponents have a sign and at least two
// digits ("1e+05"). Checked against the core over random doubles by tests/node/errors.test.js.
function formatDouble(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '';
  const [mant, expPart] = Math.abs(v).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(expPart);
  let fixed;
  // An integral value in fixed notation is printed exactly (as printf's %f would).
  if (exp >= digits.length - 1) fixed = BigInt(Math.abs(v)).toString();
  else if (exp >= 0) fixed = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  else fixed = '0.' + '0'.repeat(-exp - 1) + digits;
  const e = Math.abs(exp);
  const sci =
    (digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits) +
    'e' +
    (exp < 0 ? '-' : '+') +
    (e < 10 ? '0' + e : String(e));
  return sign + (sci.length < fixed.length ? sci : fixed);
}

function rangeStatus(name, range, got) {
  return ['out_of_range', `${name} must be ${range} (got ${got})`];
}

const MAX_SAFE = 9007199254740991;

// Ports of core/src/options.cpp. Each returns null when the value is fine, else
// [statusName, message]; the callers throw through makeError.
const pureChecks = {
  // parse_limit(name, double): an integer in [1, 2^53-1], or +Infinity (no limit).
  limit(name, value) {
    if (value === Infinity) return null;
    if (!(value >= 1) || value > MAX_SAFE || Math.trunc(value) !== value) {
      return rangeStatus(
        name,
        'an integer in [1, 9007199254740991] or Infinity',
        formatDouble(value),
      );
    }
    return null;
  },
  // parse_ttl(name, value, 1e6, 'milliseconds'): finite, > 0, and small enough for the clock.
  ttl(name, value) {
    const maxUnits = 4.0e18 / 1e6;
    if (!(value > 0) || !Number.isFinite(value) || value > maxUnits) {
      return rangeStatus(
        name,
        `a finite number of milliseconds > 0 and <= ${formatDouble(maxUnits)}`,
        formatDouble(value),
      );
    }
    return null;
  },
  // parse_policy(name, value): '' means the default.
  policy(name, value) {
    if (value === '' || value === 'lru' || value === 'tinylfu') return null;
    return rangeStatus(name, "one of 'lru', 'tinylfu'", `'${value}'`);
  },
  // check_entry_size (core/src/entry_table.cpp) for an entry known to be too heavy.
  entrySize(maxBytes, keyBytes, valueWeight) {
    const MAX_ENTRY = 0xffffffff;
    const limit = maxBytes <= MAX_ENTRY ? `max_bytes = ${maxBytes} bytes` : `${MAX_ENTRY} bytes`;
    return [
      'value_too_large',
      `entry size (key ${keyBytes} + value ${valueWeight} + overhead 64 bytes) must be at most ` +
        `${limit} (got ${keyBytes + valueWeight + 64} bytes)`,
    ];
  },
};

module.exports = { makeError, typeError, describe, formatDouble, pureChecks };
