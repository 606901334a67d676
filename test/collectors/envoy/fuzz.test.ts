import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENVOY_REJECT_REASONS, ENVOY_SKIP_REASONS, parseEnvoyLine } from '../../../collectors/envoy/parse.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';
import { mutatedLine as mutatedLines } from '../../helpers/fuzz-lines.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/envoy');
const REAL_LINES = ['text.log', 'json.log'].flatMap((f) =>
  readFileSync(path.join(FIXTURES, f), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0),
);
const REJECTS = new Set<string>(ENVOY_REJECT_REASONS);
const SKIPS = new Set<string>(ENVOY_SKIP_REASONS);

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
    expect(o.bytesOut).toBeGreaterThanOrEqual(0);
    expect(o.end).toBeGreaterThanOrEqual(o.start);
  }
}

const mutatedLine = mutatedLines(REAL_LINES);

describe('parseEnvoyLine never throws', () => {
  it('on any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 300 }), (s) =>
        checkOutcome(parseEnvoyLine(s)),
      ),
      { numRuns: 2000 },
    );
  });

  it('on real lines with random edits', () => {
    fc.assert(
      fc.property(mutatedLine, (s) => checkOutcome(parseEnvoyLine(s))),
      { numRuns: 3000 },
    );
  });

  it('on JSON objects with the access-log keys and any values', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.double(),
      fc.constant(null),
      fc.boolean(),
    );
    const key = fc.constantFrom(
      'start_time',
      'response_code',
      'response_flags',
      'bytes_received',
      'bytes_sent',
      'duration',
      'authority',
      'upstream_host',
      'downstream_remote_address',
      'downstream_direct_remote_address',
      'requested_server_name',
      'x_forwarded_for',
      'response_code_details',
      'connection_termination_details',
    );
    const startTime = fc.constantFrom('2026-11-23T02:38:55.592Z', '2026-11-23T02:38:55Z', 'x');
    fc.assert(
      fc.property(fc.dictionary(key, value), startTime, (o, t) =>
        checkOutcome(parseEnvoyLine(JSON.stringify({ start_time: t, ...o }))),
      ),
      { numRuns: 3000 },
    );
  });

  it('reads hostile 100 KB lines in linear time', () => {
    const n = 50_000;
    const started = performance.now();
    for (const line of [
      '[2026-11-23T02:38:55.567Z] "a b c" 1 2 3 4 5 6 "' + 'a" "'.repeat(n),
      '[2026-11-23T02:38:55.567Z] "a b c" 1 2 3 4 5 6 ' + '"x" '.repeat(n),
      '[2026-11-23T02:38:55.567Z] "' + 'a '.repeat(n),
    ]) {
      checkOutcome(parseEnvoyLine(line));
    }
    // Quadratic backtracking takes seconds at this size; linear scanning takes about a millisecond.
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
