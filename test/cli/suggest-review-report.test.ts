/**
 * The whole path through the CLI on the demo dataset: collect (inventory snapshots, CoreDNS and Route 53 logs,
 * VPC flow logs, squid), suggest, review, audit and report.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/model/endpoint.js';
import { destinationLabel } from '../../src/model/endpoint.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const SINCE = '2026-11-20T00:00:00Z';
const UNTIL = '2026-11-23T00:00:00Z';
const WINDOW = ['--since', SINCE, '--until', UNTIL];

let dir: string;
let db: string;

interface Learned {
  endpoints: (Endpoint & { review: string; new: boolean })[];
}

/** `audit` of the demo window against the demo's candidates. */
function auditCandidates(...extra: string[]) {
  return cli(['audit', '--db', db, ...WINDOW, '--candidates', join(dir, 'demo', 'candidates'), ...extra]);
}

function learned(out: string): Learned {
  return JSON.parse(readFileSync(join(out, 'endpoints.json'), 'utf8')) as Learned;
}

function find(l: Learned, sender: string, target: string, port: number): Learned['endpoints'][number] {
  const e = l.endpoints.find(
    (x) => x.sender === sender && destinationLabel(x.destination) === target && x.port === port,
  );
  if (e === undefined) throw new Error(`no endpoint ${sender} → ${target}:${port}`);
  return e;
}

/** Every generated file under `root` except endpoints.json, as path → content. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name !== 'endpoints.json') out[relative(root, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(root);
  return out;
}

beforeAll(() => {
  dir = tempDir();
  db = join(dir, 'demo.db');
  const r = cli(['demo', '--db', db, '--out', join(dir, 'demo')]);
  expect(r.code, r.stderr).toBe(0);
});

describe('suggest on the demo cluster', () => {
  it('learns per-workload endpoints with the right names, folds and evidence', () => {
    const l = learned(join(dir, 'demo', 'candidates'));
    const s3 = find(l, 'shop/Deployment/checkout', 'shop-assets.s3.us-east-1.amazonaws.com', 443);
    expect(s3.destination).toMatchObject({
      kind: 'host',
      cidrs: [{ cidr: '54.231.0.0/16', basis: 'published' }],
    });
    expect(s3.evidence).toMatchObject({ sender: 'dns-client', name: 'dns', days: 3 });
    const cdn = find(l, 'shop/Deployment/checkout', 'static.shopcdn.net', 443);
    expect(cdn.destination).toMatchObject({
      cidrs: [{ cidr: '13.32.0.0/20', provider: 'CLOUDFRONT GLOBAL' }],
    });
    const stripe = find(l, 'shop/Deployment/cart', 'api.stripe.com', 443);
    expect(stripe.destination).toMatchObject({
      cidrs: [{ cidr: '54.187.174.169/32' }, { cidr: '54.187.216.72/32' }],
    });
    // The CronJob runs once a day for ten minutes: still learned, under its CronJob's name.
    expect(find(l, 'batch/CronJob/report', 'api.github.com', 443).evidence.days).toBe(3);
    expect(find(l, 'corp/Deployment/crm', 'crm.example-saas.com', 443).via).toBe('proxy');
    expect(find(l, 'shop/Deployment/checkout', 'shop/Deployment/cart', 8080).destination).toMatchObject({
      kind: 'peer',
      selector: { app: 'cart', tier: 'api' },
    });
    // The planted exfiltration is flagged wherever it landed, and never enabled.
    const exfil = l.endpoints.filter((e) => destinationLabel(e.destination) === '203.0.113.66/32');
    expect(exfil.length).toBeGreaterThan(0);
    expect(exfil.every((e) => e.suspicions.some((s) => s.code === 'raw-ip-unusual-port'))).toBe(true);
    const policy = readFileSync(
      join(dir, 'demo', 'candidates', 'networkpolicy', 'shop', 'checkout-egress.yaml'),
      'utf8',
    );
    expect(policy).toMatch(/^# {5}- ipBlock:\n# {9}cidr: 203\.0\.113\.66\/32/m);
    expect(policy).not.toMatch(/^ +cidr: 203\.0\.113\.66/m);
  });

  it('writes the same bytes from the same database', () => {
    const a = join(dir, 'again-a');
    const b = join(dir, 'again-b');
    expect(cli(['suggest', '--db', db, ...WINDOW, '--out', a, '-q']).code).toBe(0);
    expect(cli(['suggest', '--db', db, ...WINDOW, '--out', b, '-q']).code).toBe(0);
    expect(tree(a)).toEqual(tree(b));
    expect(tree(a)).toEqual(tree(join(dir, 'demo', 'candidates')));
    expect(learned(a).endpoints.filter((e) => e.new)).toEqual([]);
    // A window relative to now (a nightly job's) moves with the clock; the files name the traffic seen instead.
    const c = join(dir, 'again-c');
    expect(cli(['suggest', '--db', db, '--since', '36500d', '--out', c, '-q']).code).toBe(0);
    expect(tree(c)).toEqual(tree(a));
    expect(readFileSync(join(a, 'networkpolicy', 'shop', 'checkout-egress.yaml'), 'utf8')).toMatch(
      /^# Traffic observed: \d{4}-\d\d-\d\dT[\d:]+Z \.\. \d{4}-\d\d-\d\dT[\d:]+Z$/m,
    );
  });

  it('honours review decisions across re-generation', () => {
    const l = learned(join(dir, 'demo', 'candidates'));
    const rds = find(l, 'shop/Deployment/checkout', '10.0.20.5/32', 5432);
    const exfil = find(l, 'shop/Deployment/checkout', '203.0.113.66/32', 4444);
    expect(
      cli([
        'review',
        'reject',
        rds.id.slice(0, 8),
        '--db',
        db,
        '--reason',
        'moved to IAM auth',
        '--by',
        'ana',
      ]).code,
    ).toBe(0);
    expect(
      cli(['review', 'accept', exfil.id, '--db', db, '--reason', 'partner SFTP', '--by', 'bo']).code,
    ).toBe(0);
    const list = JSON.parse(
      cli(['review', 'list', '--db', db, '--state', 'rejected,accepted', '-o', 'json']).stdout,
    ) as {
      id: string;
      state: string;
      decidedBy: string;
    }[];
    expect(list.map((r) => [r.id, r.state, r.decidedBy]).sort()).toEqual(
      [
        [rds.id, 'rejected', 'ana'],
        [exfil.id, 'accepted', 'bo'],
      ].sort(),
    );
    const out = join(dir, 'reviewed');
    expect(cli(['suggest', '--db', db, ...WINDOW, '--out', out, '-q']).code).toBe(0);
    const policy = readFileSync(join(out, 'networkpolicy', 'shop', 'checkout-egress.yaml'), 'utf8');
    expect(policy).not.toContain('10.0.20.5/32');
    expect(policy).toMatch(/^ +cidr: 203\.0\.113\.66\/32/m);
    expect(learned(out).endpoints.find((e) => e.id === rds.id)?.review).toBe('rejected');
    const shown = cli(['review', 'show', rds.id, '--db', db, '-o', 'json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      state: 'rejected',
      decisions: [{ reason: 'moved to IAM auth' }],
    });
    expect(cli(['review', 'snooze', rds.id, '--db', db, '--until', '2020-01-01T00:00:00Z']).code).toBe(1);
    const unknown = cli(['review', 'accept', 'ffffffffff', '--db', db]);
    expect([unknown.code, unknown.stderr.trim().split('\n').length]).toEqual([1, 1]);
  });

  it('counts and marks review states as the generators honour them', () => {
    const before = learned(join(dir, 'reviewed'));
    const rejected = before.endpoints.filter((e) => e.review === 'rejected');
    const accepted = before.endpoints.filter((e) => e.review === 'accepted');
    expect([rejected.length, accepted.length]).toEqual([1, 1]);
    const plain = before.endpoints.find(
      (e) => e.review === 'undecided' && !e.rare && e.suspicions.length === 0,
    )!;
    expect(cli(['review', 'snooze', plain.id, '--db', db, '--until', '30d']).code).toBe(0);
    const out = join(dir, 'snoozed');
    const r = cli(['suggest', '--db', db, ...WINDOW, '--out', out]);
    expect(r.code).toBe(0);
    const after = learned(out);
    expect(after.endpoints.find((e) => e.id === plain.id)?.review).toBe('snoozed');
    // Enabled: not rejected, and accepted or neither rare nor flagged. The rejected one is out, the accepted
    // (flagged) one in.
    const clean = after.endpoints.filter((e) => !e.rare && e.suspicions.length === 0);
    const enabled = clean.filter((e) => e.review !== 'rejected').length + 1;
    expect(accepted[0]!.suspicions.length).toBeGreaterThan(0);
    expect(clean.some((e) => e.id === rejected[0]!.id)).toBe(true);
    expect(r.stderr).toContain(`${after.endpoints.length} endpoints (${enabled} enabled, `);
    expect(r.stderr).toContain('1 rejected and 1 snoozed in review');
  });
});

describe('audit', () => {
  it('warns, and passes, when no observed traffic matches its filters', () => {
    const r = auditCandidates('--dst', '192.0.2.254');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'warning: audit: no observed traffic in the window matches the filters: nothing was judged',
    );
  });

  it('exits 3 and names the denied traffic and the rule that allows the rest', () => {
    const r = auditCandidates('-o', 'json');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/would be denied/);
    const rows = JSON.parse(r.stdout) as {
      verdict: string;
      sender: string;
      target: string;
      port: number;
      protocol: string;
      layers: { allowedBy: string[] }[];
    }[];
    const denied = rows.filter((x) => x.verdict === 'denied');
    expect(denied.length).toBeGreaterThan(0);
    // Times as every query's JSON gives them.
    for (const x of rows as unknown as { firstSeen: unknown; lastSeen: unknown }[])
      expect([x.firstSeen, x.lastSeen]).toEqual([
        expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      ]);
    expect(denied.every((x) => x.target === '203.0.113.66' && x.port === 4444)).toBe(true);
    // Protocols as policies and `suggest` name them, not IANA numbers.
    expect([...new Set(rows.map((x) => x.protocol))].sort()).toEqual(['TCP', 'UDP']);
    const rds = rows.find((x) => x.sender === 'shop/Deployment/checkout' && x.target === '10.0.20.5')!;
    expect(rds.verdict).toBe('allowed');
    expect(rds.layers[0]!.allowedBy.join()).toMatch(/networkpolicy shop\/checkout-egress egress\[\d+\]/);
    const proxied = rows.find((x) => x.target === 'crm.example-saas.com')!;
    expect(proxied.layers[0]!.allowedBy.join()).toMatch(/egressruleset corp\//);
  });

  it('denies everything but DNS under a bare default-deny policy, and exits 0 when nothing is denied', () => {
    const deny = join(dir, 'deny.yaml');
    writeFileSync(
      deny,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n',
    );
    const r = cli(['audit', '--db', db, ...WINDOW, '--policies', deny, '--namespace', 'shop', '-o', 'json']);
    expect(r.code).toBe(3);
    const rows = JSON.parse(r.stdout) as { verdict: string; sender: string }[];
    expect(rows.filter((x) => x.sender.startsWith('shop/')).every((x) => x.verdict === 'denied')).toBe(true);
    const open = join(dir, 'open.yaml');
    writeFileSync(
      open,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n',
    );
    expect(
      cli(['audit', '--db', db, ...WINDOW, '--policies', open, '--workload', 'shop/Deployment/cart']).code,
    ).toBe(0);
    expect(cli(['audit', '--db', db]).code).toBe(1);
  });
});

describe('what a user gets wrong gets one line, never a stack', () => {
  const oneLine = (r: { code: number; stderr: string }): [number, number, boolean] => [
    r.code,
    r.stderr.trim().split('\n').length,
    r.stderr.includes('internal error'),
  ];

  it('an --out that cannot be a directory', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const suggest = cli(['suggest', '--db', db, ...WINDOW, '--out', file]);
    expect(oneLine(suggest)).toEqual([1, 1, false]);
    expect(suggest.stderr).toContain(`cannot write ${file}`);
    expect(oneLine(cli(['report', '--db', db, ...WINDOW, '--out', join(file, 'sub')]))).toEqual([
      1,
      1,
      false,
    ]);
    // The demo checks before it collects anything: no database is left behind.
    const demoDb = join(dir, 'never.db');
    expect(oneLine(cli(['demo', '--db', demoDb, '--out', file]))).toEqual([1, 1, false]);
    expect(existsSync(demoDb)).toBe(false);
  });

  it('a filter the command would ignore is refused, not applied silently', () => {
    const out = join(dir, 'ignored');
    for (const [flag, value] of [
      ['--direction', 'ingress'],
      ['--action', 'reject'],
    ]) {
      const r = cli(['suggest', '--db', db, ...WINDOW, '--out', out, flag!, value!]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`unknown option '${flag}'`);
    }
    const audit = auditCandidates('--direction', 'ingress');
    expect(audit.code).toBe(1);
    expect(audit.stderr).toContain("unknown option '--direction'");
  });

  it('an audit against a path that holds no policy fails instead of passing', () => {
    const empty = join(dir, 'no-policies');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'notes.yaml'), 'kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n');
    const r = cli(['audit', '--db', db, ...WINDOW, '--candidates', empty]);
    expect(oneLine(r)).toEqual([2, 1, false]);
    expect(r.stderr).toContain('no NetworkPolicy, EgressRuleSet or security-group rules found');
    // One good layer does not excuse an empty one beside it.
    expect(auditCandidates('--policies', empty).code).toBe(2);
  });
});

describe('report', () => {
  it('writes markdown, HTML and JSON covering changes, review, coverage and ingest health', () => {
    const out = join(dir, 'report');
    const r = cli(['report', '--db', db, ...WINDOW, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      undecided: unknown[];
      flagged: { target: string }[];
      coverage: { scope: string; total: { flows: number }; outcomes: { workload: { flows: number } } }[];
      topTalkers: { workload: string }[];
      ingest: { malformed: number; quarantine: { reason: string }[] };
      charts: { trafficPerDay: unknown[] };
    };
    expect(data.flagged.map((f) => f.target)).toContain('203.0.113.66/32');
    expect(data.ingest.malformed).toBe(2);
    expect(data.charts.trafficPerDay).toHaveLength(3);
    expect(data.topTalkers[0]!.workload).toBe('shop/Deployment/checkout');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Flagged suspicious endpoints');
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/<svg[^>]+aria-label="Egress flows per day"/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    // With policies, the report lists what they would deny.
    const audited = join(dir, 'audited');
    const withPolicies = cli([
      'report',
      '--db',
      db,
      ...WINDOW,
      '--out',
      audited,
      '--format',
      'json',
      '--candidates',
      join(dir, 'demo', 'candidates'),
    ]);
    expect(withPolicies.code, withPolicies.stderr).toBe(0);
    const deniedRows = (
      JSON.parse(readFileSync(join(audited, 'report.json'), 'utf8')) as {
        denied: { target: string; port: number }[];
      }
    ).denied;
    expect(deniedRows.length).toBeGreaterThan(0);
    expect(deniedRows.every((d) => d.target === '203.0.113.66' && d.port === 4444)).toBe(true);
    expect((data as unknown as { denied: unknown }).denied).toBeNull();
    // The next report starts where this one ended.
    const next = cli([
      'report',
      '--db',
      db,
      '--until',
      '2026-11-24T00:00:00Z',
      '--out',
      join(dir, 'next'),
      '--format',
      'json',
    ]);
    expect(next.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'next', 'report.json'), 'utf8')).window.since).toBe(
      Date.parse(UNTIL) / 1000,
    );
  });

  it('renders in a real headless Chromium', () => {
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
    if (chromium === undefined)
      throw new Error('chromium is not installed: run bash scripts/setup/chromium.sh');
    const out = join(dir, 'report');
    const shot = join(dir, 'report.png');
    execFileSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--window-size=1200,2000',
        `--screenshot=${shot}`,
        `file://${join(out, 'report.html')}`,
      ],
      { stdio: 'ignore', timeout: 60_000 },
    );
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // A blank page compresses to almost nothing; charts and tables do not.
    expect(png.length).toBeGreaterThan(20_000);
    const dom = execFileSync(
      chromium,
      ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', `file://${join(out, 'report.html')}`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect((dom.match(/<rect /g) ?? []).length).toBeGreaterThan(3);
    expect(dom).toContain('Top talkers by bytes');
  });
});
