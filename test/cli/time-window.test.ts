import { describe, expect, it } from 'vitest';
import { parseDuration, parseInstant } from '../../src/cli/time-window.js';

const NOW = 1_800_000_000;

describe('time windows', () => {
  it('counts durations back from now', () => {
    expect(parseDuration('90m')).toBe(5400);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseInstant('14d', NOW, '--since')).toBe(NOW - 14 * 86400);
  });

  it('reads RFC 3339 times, with or without a zone', () => {
    expect(parseInstant('2025-11-20T00:10:00Z', NOW, '--until')).toBe(1_763_597_400);
    expect(parseInstant('2025-11-20T01:10:00+01:00', NOW, '--until')).toBe(1_763_597_400);
    expect(parseInstant('2025-11-20', NOW, '--since')).toBe(1_763_596_800);
  });

  it.each(['yesterday', '2024-02-30', '2025-11-20T24:00:00Z', '2025-13-01', '14x'])('refuses %j', (text) => {
    expect(() => parseInstant(text, NOW, '--since')).toThrow(/--since/);
  });

  it('refuses a duration reaching outside the years RFC 3339 writes', () => {
    expect(() => parseInstant('999999999999d', NOW, '--since')).toThrow(/--since .*out of range/);
    expect(parseInstant('100000d', NOW, '--since')).toBe(NOW - 100000 * 86400);
  });
});
