/**
 * Endpoints an attacker may have taught the learner during the observation window: a compromised pod chooses its
 * Host header, SNI and DNS names. Each test is cheap and explainable; a flagged endpoint is emitted commented out
 * with the reason, so a person decides.
 */
import type { Destination, Evidence, Sender, Suspicion } from '../model/endpoint.js';
import { registrableDomain } from './fold-names.js';

/** Ports a raw-IP destination commonly uses; anything else on a bare internet address is worth a look. */
const COMMON_PORTS: ReadonlySet<number> = new Set([
  0, 53, 80, 123, 443, 853, 8080, 8443, 465, 587, 993, 995, 9093, 9094, 5671, 5672, 8883,
]);

/** Provider lists whose prefixes hold addresses anyone can rent (an attacker's server as much as anyone's). */
export const RENTABLE_SERVICES: ReadonlySet<string> = new Set(['AMAZON', 'EC2']);

/**
 * A raw address that says nothing about who is behind it: on the internet, or inside a cloud range anyone can
 * rent (`cloud-service` addresses are named `SERVICE region`). A managed service's own prefix (S3, CloudFront…)
 * is not: only the provider answers there.
 */
function anonymousAddress(d: Destination): boolean {
  if (d.kind !== 'address') return false;
  if (d.dstClass === 'internet') return true;
  return d.dstClass === 'cloud-service' && RENTABLE_SERVICES.has(d.dstName.split(' ')[0] ?? '');
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A label run that looks generated (DNS tunnelling, DGA, encoded data): at least 16 alphanumerics without a
 * separator, mixing letters and digits, at 3.5+ bits per character. Words joined by hyphens (bucket and service
 * names) and short ids (CDN distribution ids) do not qualify.
 */
export function highEntropyLabel(name: string): string | null {
  const domain = registrableDomain(name);
  const sub = domain === null || domain === name ? name.split('.')[0]! : name.slice(0, -domain.length - 1);
  for (const run of sub.split(/[.\-_]/)) {
    if (run.length < 16 || !/[a-z]/.test(run) || !/[0-9]/.test(run)) continue;
    const h = entropy(run);
    if (h >= 3.5) return `label "${run.slice(0, 40)}" has ${h.toFixed(1)} bits/char`;
  }
  return null;
}

export interface SuspicionContext {
  /** End of the observed data (the window's end, or the last flow if earlier). */
  readonly dataEnd: number;
  /** Length of the observed window in seconds. */
  readonly span: number;
  /** True when DNS logs with answers cover the window (so a name would have been seen). */
  readonly dnsSeen: boolean;
}

/** Every suspicion that applies to one endpoint. */
export function suspicionsOf(
  sender: Sender,
  destination: Destination,
  port: number,
  evidence: Evidence,
  ctx: SuspicionContext,
): Suspicion[] {
  const out: Suspicion[] = [];
  if (destination.kind === 'host') {
    for (const n of destination.names) {
      const why = highEntropyLabel(n);
      if (why !== null) {
        out.push({ code: 'high-entropy-name', detail: `${n}: ${why}` });
        break;
      }
    }
  }
  if (anonymousAddress(destination) && !COMMON_PORTS.has(port)) {
    out.push({ code: 'raw-ip-unusual-port', detail: `internet address without a name on port ${port}` });
  }
  // Workloads reach the internet by name. An address no answer named, sent through a node's address by a pod
  // nobody could narrow down, is what a compromised pod with a hard-coded address looks like.
  if (ctx.dnsSeen && anonymousAddress(destination) && evidence.sender === 'candidate') {
    out.push({
      code: 'unnamed-address-via-node',
      detail: "internet address no DNS answer named, sent through a node's address by an unknown pod",
    });
  }
  const external = destination.kind !== 'peer';
  if (
    external &&
    sender.kind === 'workload' &&
    (evidence.sender === 'exact' || evidence.sender === 'dns-client') &&
    evidence.pods === 1 &&
    sender.pods >= 3 &&
    sender.maxReplicas >= 2 &&
    // One pod using an endpoint day after day is a leader (leader election, a singleton job inside a
    // Deployment), not a foothold's burst: a pod that alone talks somewhere on one day is.
    evidence.days <= 1
  ) {
    out.push({
      code: 'single-pod-of-many',
      detail: `used by 1 of ${sender.pods} pods (up to ${sender.maxReplicas} at once)`,
    });
  }
  if (external && ctx.span >= 3 * 86_400 && evidence.firstSeen >= ctx.dataEnd - 86_400) {
    out.push({ code: 'new-on-last-day', detail: 'first seen in the last day of the window' });
  }
  return out;
}
