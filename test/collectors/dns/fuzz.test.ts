import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COREDNS_REJECT_REASONS,
  COREDNS_SKIP_REASONS,
  CorednsParser,
  DNSMASQ_REJECT_REASONS,
  DNSMASQ_SKIP_REASONS,
  DnsmasqParser,
  parseRoute53Line,
  ROUTE53_REJECT_REASONS,
  ROUTE53_SKIP_REASONS,
} from '../../../collectors/dns/index.js';
import type { DnsParseOutcome } from '../../../src/model/dns.js';
import { normalizeHost } from '../../../src/model/authority.js';
import { mutatedLine } from '../../helpers/fuzz-lines.js';

const fixture = (f: string): string[] =>
  readFileSync(new URL(`../../fixtures/dns/${f}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);

function check(out: DnsParseOutcome, rejects: readonly string[], skips: readonly string[]): void {
  if (out.kind === 'reject') expect(rejects).toContain(out.reason);
  else if (out.kind === 'skip') expect(skips).toContain(out.reason);
  else {
    for (const a of out.values) {
      // Attacker-chosen names never reach the store unvalidated.
      expect(normalizeHost(a.name)).toBe(a.name);
      expect(Number.isFinite(a.time)).toBe(true);
    }
  }
}

const formats = [
  {
    name: 'dnsmasq',
    lines: [
      ...fixture('dnsmasq-extra.log'),
      ...fixture('dnsmasq-syslog.log'),
      ...fixture('dnsmasq-broken.log'),
    ],
    parse: (() => {
      const p = new DnsmasqParser({ year: null, reference: 1_800_000_000 });
      return (l: string) => p.parse(l);
    })(),
    rejects: DNSMASQ_REJECT_REASONS,
    skips: DNSMASQ_SKIP_REASONS,
  },
  {
    name: 'coredns',
    lines: [
      ...fixture('coredns.log'),
      ...fixture('coredns-combined.log'),
      ...fixture('coredns-cri.log'),
      ...fixture('coredns-docker.log'),
      ...fixture('coredns-broken.log'),
    ],
    parse: (() => {
      const p = new CorednsParser(0);
      return (l: string) => p.parse(l);
    })(),
    rejects: COREDNS_REJECT_REASONS,
    skips: COREDNS_SKIP_REASONS,
  },
  {
    name: 'route53',
    lines: [...fixture('route53.log'), ...fixture('route53-broken.log')],
    parse: (l: string) => parseRoute53Line(l),
    rejects: ROUTE53_REJECT_REASONS,
    skips: ROUTE53_SKIP_REASONS,
  },
] as const;

describe.each(formats)('$name parser fuzz', ({ lines, parse, rejects, skips }) => {
  it('never throws on mutated real lines and only uses its bounded reasons', () => {
    fc.assert(
      fc.property(mutatedLine(lines), (line) => check(parse(line), rejects, skips)),
      { numRuns: 3000 },
    );
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (line) => check(parse(line), rejects, skips)),
      { numRuns: 2000 },
    );
  });
});
