/**
 * The last gate between attacker-controlled log values and generated files. Inference already validated names and
 * addresses once; every generator re-checks each value in the form it is about to write, so a bug upstream can
 * never turn into an injected rule. A value that fails is dropped by the caller with a comment, never escaped into
 * the output.
 */
import { parseCidr } from '../model/cidr.js';
import { normalizeHost } from '../model/authority.js';

/** A host name or `*.domain` (RFC 1123 labels, no underscore, at least two labels); null when unsafe. */
export function safeHost(host: string): string | null {
  const wildcard = host.startsWith('*.');
  const bare = wildcard ? host.slice(2) : host;
  if (bare.includes('_') || bare.includes('*')) return null;
  const n = normalizeHost(bare);
  if (n === null || n !== bare || !n.includes('.')) return null;
  return wildcard ? `*.${n}` : n;
}

/**
 * A canonical CIDR, re-parsed; null when unparsable, not canonical, or the whole address space (unless
 * `allowAny`: a person asked for it with `--allow-any`).
 */
export function safeCidr(text: string, allowAny = false): string | null {
  const c = parseCidr(text);
  if (c === null || c.text !== text) return null;
  if (c.prefix === 0 && !allowAny) return null;
  return c.text;
}

/** A port number 1–65535; null otherwise. */
export function safePort(port: number): number | null {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** A Kubernetes label key (`[prefix/]name`). */
export function safeLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !LABEL_PREFIX.test(prefix)) return false;
  }
  return LABEL_NAME.test(name);
}

/** A Kubernetes label value (empty allowed). */
export function safeLabelValue(value: string): boolean {
  return value === '' || LABEL_NAME.test(value);
}

/** Labels with only safe keys and values, sorted by key. */
export function safeLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k]!;
    if (safeLabelKey(k) && safeLabelValue(v)) out[k] = v;
  }
  return out;
}

/** A DNS-1123 name for a Kubernetes object or file built from parts (lower case, `-` joined, ≤ `max`). */
export function safeObjectName(parts: readonly string[], max = 63): string {
  const joined = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const cut = joined.slice(0, max).replace(/-$/, '');
  return cut === '' ? 'x' : cut;
}

/** Text for one comment line: control characters (newlines among them) become spaces. */
export function commentText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ');
}
