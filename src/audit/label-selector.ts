import { ManifestError } from './manifest-error.js';

/**
 * Kubernetes label selectors (`matchLabels` AND `matchExpressions`), checked the way the API server's
 * `metav1.LabelSelectorAsSelector` checks them, so a selector the cluster would refuse is an error here too.
 */

/** Labels of a pod or namespace. Looked up with `Object.hasOwn`, so keys like `constructor` are plain keys. */
export type Labels = Readonly<Record<string, string>>;

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type SelectorOperator = (typeof SELECTOR_OPERATORS)[number];

export interface LabelRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

/** A parsed selector. Both parts empty selects everything (`{}`). */
export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly LabelRequirement[];
}

/** Optional DNS-subdomain prefix and `/`, then a name of up to 63 characters (k8s.io/apimachinery validation). */
export const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export const EVERYTHING: LabelSelector = Object.freeze({
  matchLabels: Object.freeze({}),
  matchExpressions: Object.freeze([]),
});

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A label value as text. YAML turns `tier: 1` or `canary: true` into a number or boolean; the author meant the
 * text, so scalars are kept as written rather than refused.
 */
export function labelText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** Reads a `metadata.labels`-shaped map; anything that is not a map of scalars is refused. */
export function parseLabels(raw: unknown, where: string): Labels {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected a map of labels`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    const text = labelText(v);
    if (text === null) throw new ManifestError(`${where}.${k}: expected a string label value`);
    out[k] = text;
  }
  return out;
}

function checkKey(key: string, where: string): void {
  if (!LABEL_KEY.test(key) || key.length > 317) {
    throw new ManifestError(`${where}: invalid label key ${JSON.stringify(key)}`);
  }
}

function checkValue(value: string, where: string): void {
  if (!LABEL_VALUE.test(value))
    throw new ManifestError(`${where}: invalid label value ${JSON.stringify(value)}`);
}

/** Parses and validates a selector object; `where` names it in errors (`spec.podSelector`). */
export function parseLabelSelector(raw: unknown, where: string): LabelSelector {
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected a label selector object`);
  const matchLabels = parseLabels(raw.matchLabels, `${where}.matchLabels`);
  for (const [k, v] of Object.entries(matchLabels)) {
    checkKey(k, `${where}.matchLabels`);
    checkValue(v, `${where}.matchLabels.${k}`);
  }
  const expressions: LabelRequirement[] = [];
  if (raw.matchExpressions !== undefined && raw.matchExpressions !== null) {
    if (!Array.isArray(raw.matchExpressions)) {
      throw new ManifestError(`${where}.matchExpressions: expected a list`);
    }
    raw.matchExpressions.forEach((e: unknown, i) => {
      expressions.push(parseRequirement(e, `${where}.matchExpressions[${i}]`));
    });
  }
  return Object.freeze({
    matchLabels: Object.freeze(matchLabels),
    matchExpressions: Object.freeze(expressions),
  });
}

function parseRequirement(raw: unknown, where: string): LabelRequirement {
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected {key, operator, values}`);
  const { key, operator } = raw;
  if (typeof key !== 'string') throw new ManifestError(`${where}.key: expected a string`);
  checkKey(key, `${where}.key`);
  if (typeof operator !== 'string' || !(SELECTOR_OPERATORS as readonly string[]).includes(operator)) {
    throw new ManifestError(
      `${where}.operator: ${JSON.stringify(operator)} is not one of ${SELECTOR_OPERATORS.join(', ')}`,
    );
  }
  const op = operator as SelectorOperator;
  const rawValues = raw.values ?? [];
  if (!Array.isArray(rawValues)) throw new ManifestError(`${where}.values: expected a list`);
  const values = rawValues.map((v: unknown) => {
    const text = labelText(v);
    if (text === null) throw new ManifestError(`${where}.values: expected strings`);
    checkValue(text, `${where}.values`);
    return text;
  });
  if ((op === 'In' || op === 'NotIn') && values.length === 0) {
    throw new ManifestError(`${where}: values must be non-empty for ${op}`);
  }
  if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) {
    throw new ManifestError(`${where}: values must be empty for ${op}`);
  }
  return Object.freeze({ key, operator: op, values: Object.freeze(values) });
}

export function isEverything(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case 'In':
      return has && r.values.includes(labels[r.key]!);
    // NotIn and DoesNotExist hold for a pod without the key, as in Kubernetes.
    case 'NotIn':
      return !has || !r.values.includes(labels[r.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  for (const r of selector.matchExpressions) if (!requirementMatches(r, labels)) return false;
  return true;
}
