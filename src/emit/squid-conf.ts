/**
 * The squid configuration that enforces the union of the EgressRuleSets on the egress proxy: what the issue's
 * egress-controller does when it reconfigures squid (seeds/zalando-kubernetes-egress-issue-198.txt). One
 * fragment, `squid/egress.conf`, meant to be `include`d as the last http_access block of squid.conf.
 *
 * Per port: `acl … port`, exact names in a `dstdomain -n` acl, wildcards in a `dstdom_regex -n -i` acl, and one
 * `http_access allow` per acl pair; `http_access deny all` closes the list.
 */
import type { Endpoint, InferenceResult } from '../model/endpoint.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { headerLines } from './evidence.js';
import {
  collectTargets,
  droppedLines,
  enabledTargetLines,
  targetHost,
  rareBlockLines,
  suspiciousTargetLines,
  type LearnedTarget,
} from './egressruleset.js';
import { commentText } from './safe.js';

const PREFIX = 'egress_learner';

/**
 * A wildcard as a squid regex over the request's host. squid's own `.example.org` form would also match
 * `example.org` itself, which `*.example.org` does not allow (src/infer/fold-names.ts keeps the apex exact), and
 * a `.domain` next to one of its names in one dstdomain acl makes squid warn and drop one of them. The host is
 * validated (RFC 1123 labels), so escaping the dots is all the quoting it needs.
 */
function wildcardRegex(host: string): string {
  return `\\.${host.slice(2).replaceAll('.', '\\.')}$`;
}

type AclKind = 'names' | 'wildcards';

function aclName(kind: AclKind, port: number): string {
  return `${PREFIX}_${kind}_${port}`;
}

function aclLine(kind: AclKind, t: LearnedTarget): string {
  // `-n`: never reverse-resolve an IP-literal request; without it a literal whose PTR (or hosts_file entry)
  // names an allowed host would pass (shared recipes/proxy-and-dns.md).
  return kind === 'names'
    ? `acl ${aclName(kind, t.port)} dstdomain -n ${t.host}`
    : `acl ${aclName(kind, t.port)} dstdom_regex -n -i ${wildcardRegex(t.host)}`;
}

const comments = (lines: readonly string[]) => lines.map((l) => `# ${commentText(l)}`.trimEnd());

function portSection(
  port: number,
  targets: readonly LearnedTarget[],
  accepted: ReadonlySet<string>,
): string[] {
  const lines: string[] = [`# ── port ${port} ──`];
  const enabledHere = targets.some((t) => t.enabled.length > 0);
  const portAcl = `acl ${PREFIX}_port_${port} port ${port}`;
  lines.push(enabledHere ? portAcl : `# ${portAcl}`);
  const access: string[] = [];
  for (const kind of ['names', 'wildcards'] as const) {
    const ofKind = targets.filter((t) => t.host.startsWith('*.') === (kind === 'wildcards'));
    let live = false;
    let commented = false;
    for (const t of ofKind) {
      if (t.enabled.length > 0) {
        lines.push(...comments(enabledTargetLines(t, accepted)), aclLine(kind, t));
        live = true;
      } else if (t.suspicious.length > 0) {
        lines.push(...comments(suspiciousTargetLines(t, accepted)), `# ${aclLine(kind, t)}`);
        commented = true;
      }
    }
    // An http_access line naming an acl that was never defined is FATAL, so it is live only with a live acl.
    const allow = `http_access allow ${PREFIX}_port_${port} ${aclName(kind, port)}`;
    if (live) access.push(allow);
    else if (commented) access.push(`# ${allow}`);
  }
  return [...lines, ...access, ''];
}

/** The targets the proxy must allow: the EgressRuleSets' (workload senders), plus what nodes and instances sent through it. */
function proxyEndpoints(result: InferenceResult): Endpoint[] {
  const kindOf = new Map(result.senders.map((s) => [s.id, s.kind]));
  return result.endpoints.filter((e) => {
    const kind = kindOf.get(e.sender);
    if (kind === undefined || targetHost(e) === null) return false;
    return kind === 'workload' || e.via === 'proxy';
  });
}

export const emitSquidConf: Generator = (result: InferenceResult, options: EmitOptions) => {
  const { targets, dropped } = collectTargets(proxyEndpoints(result), options.rejected);
  if (targets.length === 0 && dropped.length === 0) return [];
  const ports = [...new Set(targets.map((t) => t.port))].sort((a, b) => a - b);
  const lines = [
    ...comments(headerLines(result, 'squid egress allow-list')),
    ...comments([
      'The union of the learned EgressRuleSet targets (workload senders), plus names that nodes and instances',
      'reached through the proxy. Include this file after any http_access lines of your own and add none after',
      'it: it ends with `http_access deny all`.',
      'A target is host:port; CONNECT and plain requests are allowed alike, the method is not part of it.',
      '`*.domain` matches every name below domain, not domain itself (squid `.domain` would match both).',
    ]),
    '',
  ];
  for (const port of ports) {
    lines.push(
      ...portSection(
        port,
        targets.filter((t) => t.port === port),
        options.accepted,
      ),
    );
  }
  const tail = [...rareBlockLines(result, targets, options.accepted), ...droppedLines(dropped)];
  if (tail.length > 0) lines.push(...comments(tail), '');
  lines.push('http_access deny all', '');
  const file: EmittedFile = { path: 'squid/egress.conf', content: lines.join('\n') };
  return [file];
};
