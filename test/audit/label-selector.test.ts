import { describe, expect, it } from 'vitest';
import { parseLabelSelector, selectorMatches } from '../../src/audit/label-selector.js';
import { ManifestError } from '../../src/audit/manifest-error.js';

const sel = (raw: unknown) => parseLabelSelector(raw, 'spec.podSelector');
const matches = (raw: unknown, labels: Record<string, string>): boolean => selectorMatches(sel(raw), labels);

describe('label selectors', () => {
  it('an empty selector matches every pod, labelled or not', () => {
    expect(matches({}, {})).toBe(true);
    expect(matches({ matchLabels: {}, matchExpressions: [] }, { app: 'x' })).toBe(true);
  });

  it('matchLabels needs every pair, with equal values', () => {
    const s = { matchLabels: { app: 'web', tier: 'front' } };
    expect(matches(s, { app: 'web', tier: 'front', extra: 'y' })).toBe(true);
    expect(matches(s, { app: 'web' })).toBe(false);
    expect(matches(s, { app: 'web', tier: 'back' })).toBe(false);
  });

  it('In needs the key with one of the values', () => {
    const s = { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'stage'] }] };
    expect(matches(s, { env: 'stage' })).toBe(true);
    expect(matches(s, { env: 'dev' })).toBe(false);
    expect(matches(s, {})).toBe(false);
  });

  it('NotIn and DoesNotExist also match a pod without the key', () => {
    const notIn = { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] };
    expect(matches(notIn, {})).toBe(true);
    expect(matches(notIn, { env: 'dev' })).toBe(true);
    expect(matches(notIn, { env: 'prod' })).toBe(false);
    const absent = { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] };
    expect(matches(absent, {})).toBe(true);
    expect(matches(absent, { env: '' })).toBe(false);
  });

  it('Exists matches any value, the empty one included', () => {
    const s = { matchExpressions: [{ key: 'env', operator: 'Exists' }] };
    expect(matches(s, { env: '' })).toBe(true);
    expect(matches(s, { other: 'x' })).toBe(false);
  });

  it('matchLabels and matchExpressions must both hold', () => {
    const s = {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }],
    };
    expect(matches(s, { app: 'web', env: 'dev' })).toBe(true);
    expect(matches(s, { app: 'web', env: 'prod' })).toBe(false);
    expect(matches(s, { app: 'db', env: 'dev' })).toBe(false);
  });

  it('does not see inherited object keys as labels', () => {
    expect(matches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });

  it('refuses what the API server refuses', () => {
    expect(() => sel({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] })).toThrow(
      ManifestError,
    );
    expect(() => sel({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).toThrow(/non-empty/);
    expect(() => sel({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).toThrow(
      /empty/,
    );
    expect(() => sel({ matchLabels: { 'bad key!': 'x' } })).toThrow(/label key/);
    expect(() => sel('app=web')).toThrow(/label selector/);
  });
});
