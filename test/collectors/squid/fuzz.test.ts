import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSquidLine, SQUID_REJECT_REASONS, SQUID_SKIP_REASONS } from '../../../collectors/squid/parse.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';
import { mutatedLine as mutatedLines } from '../../helpers/fuzz-lines.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/squid');
const REAL_LINES = ['native.log', 'common.log', 'combined.log'].flatMap((f) =>
  readFileSync(path.join(FIXTURES, f), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0),
);
const REJECTS = new Set<string>(SQUID_REJECT_REASONS);
const SKIPS = new Set<string>(SQUID_SKIP_REASONS);

/** The outcome is well-formed: a bounded reason, or an observation whose numbers are usable. */
function checkOutcome(r: ParseOutcome): void {
  if (r.kind === 'reject') expect(REJECTS.has(r.reason)).toBe(true);
  else if (r.kind === 'skip') expect(SKIPS.has(r.reason)).toBe(true);
  else {
    const o = r.value;
    expect(Number.isFinite(o.start) && Number.isFinite(o.end)).toBe(true);
    expect(o.bytesIn).toBeGreaterThanOrEqual(0);
    expect(o.dstAddr !== null || o.dstHost !== null).toBe(true);
    if (o.dstPort !== null) expect(o.dstPort >= 1 && o.dstPort <= 65535).toBe(true);
    expect(o.srcAddr).not.toBeNull();
  }
}

const mutatedLine = mutatedLines(REAL_LINES);

describe('parseSquidLine never throws', () => {
  it('on any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 300 }), (s) =>
        checkOutcome(parseSquidLine(s)),
      ),
      { numRuns: 2000 },
    );
  });

  it('on real lines with random edits', () => {
    fc.assert(
      fc.property(mutatedLine, (s) => checkOutcome(parseSquidLine(s))),
      { numRuns: 3000 },
    );
  });

  it('on lines built from squid-like tokens', () => {
    const token = fc.constantFrom(
      '1795401345.683',
      '0',
      '7',
      '127.0.0.1',
      '::1',
      '[::1]:80',
      'TCP_MISS/200',
      'TCP_DENIED/403',
      '355',
      '-',
      'GET',
      'CONNECT',
      'http://a.test/',
      'a.test:443',
      'error:invalid-request',
      'HIER_DIRECT/127.0.0.1',
      'HIER_NONE/-',
      '[25/Nov/2026:02:39:28 +0000]',
      '"GET http://a.test/ HTTP/1.1"',
      '"x"',
      'TCP_MISS:HIER_DIRECT',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 14 }), (tokens) =>
        checkOutcome(parseSquidLine(tokens.join(' '))),
      ),
      { numRuns: 3000 },
    );
  });

  it('reads hostile 100 KB lines in linear time', () => {
    const n = 50_000;
    const started = performance.now();
    for (const line of [
      '1.1.1.1 - - [25/Nov/2026:02:39:28 +0000] "' + 'a'.repeat(n) + ' ' + '"'.repeat(n),
      '1.1.1.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a/ HTTP/1.1" 200 1 ' + '" '.repeat(n) + 'x y',
      '1795401345.683 ' + ' '.repeat(n) + 'x',
    ]) {
      checkOutcome(parseSquidLine(line));
    }
    // Quadratic backtracking takes seconds at this size; linear scanning takes about a millisecond.
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
