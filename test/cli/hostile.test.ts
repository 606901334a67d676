/**
 * Log data is attacker-controlled: a compromised pod chooses its CONNECT target, Host header and DNS names.
 * Injection attempts fed through real-format squid and Route 53 logs must never reach a generated file, every
 * file must stay valid in its own syntax, and nothing may open the whole address space.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { listDocument, namespaceObject, podObject, route53Line, squidLine } from '../../src/demo/formats.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 10, 20) / 1000;
const POD = '10.0.1.17';

/** Targets a hostile pod sends through the proxy; only the last two are real names. */
const HOSTILE_TARGETS = [
  'evil.example.com%0a- "*:443":443',
  'evil.example.com\r\n  - 0.0.0.0/0:443',
  'a.example.com;rm${IFS}-rf${IFS}/:443',
  '$(reboot).example.com:443',
  '`id`.example.com:443',
  '*:443',
  '*.com:443',
  'x.example.com"}]:443',
  '0.0.0.0/0:443',
  'ok.example.com:99999',
  'ok.example.com:443',
  'api.partner.example.org:8443',
];

/** Names hostile DNS answers carry; only the last is a real name. */
const HOSTILE_NAMES = [
  'evil.example.net\n- ipBlock: {cidr: 0.0.0.0/0}',
  'x"; exo compute delete; ".example.net',
  'fine.example.net',
];

let out: string;

function files(root: string): string[] {
  return readdirSync(root).flatMap((n) => {
    const p = join(root, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

beforeAll(() => {
  const dir = tempDir();
  const db = join(dir, 'h.db');
  const snap = join(dir, 'snap.json');
  writeFileSync(
    snap,
    listDocument([
      namespaceObject('shop', {}, T0 - 86_400),
      podObject({
        namespace: 'shop',
        name: 'web-1',
        uid: 'uid-web-1',
        owner: null,
        labels: { app: 'web' },
        node: 'node-a',
        ip: POD,
        started: T0 - 86_400,
      }),
    ]),
  );
  const squid = join(dir, 'access.log');
  writeFileSync(
    squid,
    HOSTILE_TARGETS.map((t, i) => squidLine(T0 + 60 + i, POD, 'CONNECT', t, 1000, '198.51.100.10')).join(
      '\n',
    ) + '\n',
  );
  const r53 = join(dir, 'route53.log');
  const flows = [
    'version srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
  ];
  HOSTILE_NAMES.forEach((name, i) => {
    const addr = `198.51.100.${20 + i}`;
    writeFileSync(r53, route53Line(T0 + 100 + i, POD, name, [addr]) + '\n', { flag: 'a' });
    flows.push(`2 ${POD} ${addr} 40000 443 6 5 500 ${T0 + 110 + i} ${T0 + 170 + i} ACCEPT OK`);
  });
  const vpc = join(dir, 'flows.log');
  writeFileSync(vpc, flows.join('\n') + '\n');
  for (const args of [
    ['collect', 'k8s', '--snapshot', snap, '--at', new Date(T0 * 1000).toISOString()],
    ['collect', 'squid', squid],
    ['collect', 'dns', '--format', 'route53', r53],
    ['collect', 'vpc-flow', vpc],
  ]) {
    const r = cli([...args, '--db', db, '-q']);
    expect(r.code, r.stderr).toBe(0);
  }
  out = join(dir, 'out');
  mkdirSync(out);
  const r = cli([
    'suggest',
    '--db',
    db,
    '--since',
    '2026-11-19T00:00:00Z',
    '--until',
    '2026-11-21T00:00:00Z',
    '--out',
    out,
  ]);
  expect(r.code, r.stderr).toBe(0);
});

describe('hostile log values', () => {
  it('are quarantined at the parser, never learned', () => {
    const learned = JSON.parse(readFileSync(join(out, 'endpoints.json'), 'utf8')) as {
      endpoints: { destination: { host?: string } }[];
    };
    const hosts = learned.endpoints.map((e) => e.destination.host).filter((h) => h !== undefined);
    expect(hosts.sort()).toEqual(['api.partner.example.org', 'fine.example.net', 'ok.example.com']);
  });

  it('never reach a generated file, which stays valid and narrow', () => {
    const all = files(out);
    expect(all.length).toBeGreaterThan(8);
    for (const f of all) {
      const text = readFileSync(f, 'utf8');
      for (const bad of ['evil.', 'reboot', '`id`', 'rm${IFS}', 'exo compute delete', '"}]'])
        expect(text, f).not.toContain(bad);
      // No rule opens everything: 0.0.0.0/0 and ::/0 appear nowhere outside comments.
      // (The SKS mandatory rules are the seed's own, to the world by design; only what was learned is checked.)
      const learnedPart = f.endsWith('rules.sh') ? text.slice(text.indexOf('# Learned egress rules')) : text;
      const code = learnedPart
        .split('\n')
        .filter((l) => !/^\s*(#|\/\/)/.test(l))
        .join('\n');
      expect(code, f).not.toMatch(/0\.0\.0\.0\/0|::\/0/);
      if (/\.ya?ml$/.test(f)) for (const d of parseAllDocuments(text)) expect(d.errors, f).toEqual([]);
      if (f.endsWith('.json')) expect(() => JSON.parse(text), f).not.toThrow();
      if (f.endsWith('.sh')) execFileSync('sh', ['-n', f]);
    }
    const ers = readFileSync(join(out, 'egressruleset', 'shop.yaml'), 'utf8');
    expect(ers).toContain('ok.example.com:443');
    expect(ers).toContain('api.partner.example.org:8443');
  });
});
