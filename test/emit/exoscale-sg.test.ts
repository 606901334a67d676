import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { EmitOptions } from '../../src/emit/document.js';
import { emitExoscaleSecurityGroups, exoDescription } from '../../src/emit/exoscale-sg.js';
import type { InferenceResult, Sender } from '../../src/model/endpoint.js';
import {
  addressDest,
  endpoint,
  exact,
  hostDest,
  peerDest,
  result,
  sender,
  workload,
} from '../helpers/inference.js';

const none: EmitOptions = { scope: 'namespace', accepted: new Set(), rejected: new Set() };

/** The seed's commands (seeds/exoscale-sks-egress-security-groups.txt), verbatim after the group is created. */
const SEED_COMMANDS = `# allow NTP service
exo compute security-group rule add sks-egress-security-group \\
--description "NTP service" \\
--protocol udp \\
--network 0.0.0.0/0 \\
--flow egress \\
--port 123
# allow DNS resolution for TCP protocol
exo compute security-group rule add sks-egress-security-group \\
--description "DNS service (TCP)" \\
--protocol tcp \\
--network 0.0.0.0/0 \\
--flow egress \\
--port 53
# allow DNS resolution for UDP protocol
exo compute security-group rule add sks-egress-security-group \\
--description "DNS service (UDP)" \\
--protocol udp \\
--network 0.0.0.0/0 \\
--flow egress \\
--port 53
# allow Container images pull
exo compute security-group rule add sks-egress-security-group \\
--description "Container images pull" \\
--protocol tcp \\
--network 0.0.0.0/0 \\
--flow egress \\
--port 443
# allow SKS inter-node communication
exo compute security-group rule add sks-egress-security-group \\
--description "SKS inter-node" \\
--protocol tcp \\
--port 1-65535 \\
--flow egress \\
--security-group sks-egress-security-group
# allow SKS API communication
exo compute security-group rule add sks-egress-security-group \\
--description "SKS API" \\
--protocol tcp \\
--port 1-65535 \\
--flow egress \\
--security-group public-sks-apiservers
`;

function mandatoryArgv(sg: string): string[][] {
  const net = (d: string, p: string, port: string) => [
    ...['compute', 'security-group', 'rule', 'add', sg, '--description', d, '--protocol', p],
    ...['--network', '0.0.0.0/0', '--flow', 'egress', '--port', port],
  ];
  const group = (d: string, target: string) => [
    ...['compute', 'security-group', 'rule', 'add', sg, '--description', d, '--protocol', 'tcp'],
    ...['--port', '1-65535', '--flow', 'egress', '--security-group', target],
  ];
  return [
    net('NTP service', 'udp', '123'),
    net('DNS service (TCP)', 'tcp', '53'),
    net('DNS service (UDP)', 'udp', '53'),
    net('Container images pull', 'tcp', '443'),
    group('SKS inter-node', sg),
    group('SKS API', 'public-sks-apiservers'),
  ];
}

function learnedArgv(
  sg: string,
  description: string,
  protocol: string,
  network: string,
  port: string,
): string[] {
  return [
    ...['compute', 'security-group', 'rule', 'add', sg, '--description', description, '--protocol', protocol],
    ...['--network', network, '--flow', 'egress', '--port', port],
  ];
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the script under `sh` with a stand-in `exo` that records each call's argv; returns the calls. */
function runScript(
  script: string,
  env: Record<string, string> = {},
): { status: number | null; stderr: string; calls: string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'el-exo-'));
  dirs.push(dir);
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  // NUL-separated argv, one record per line: nothing an argument contains can split or merge calls.
  writeFileSync(
    join(dir, 'exo'),
    '#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a"; done >>"$EXO_LOG"\necho >>"$EXO_LOG"\n',
  );
  chmodSync(join(dir, 'exo'), 0o755);
  writeFileSync(join(dir, 'rules.sh'), script);
  const r = spawnSync('sh', [join(dir, 'rules.sh')], {
    env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, EXO_LOG: log, ...env },
    encoding: 'utf8',
  });
  const calls = readFileSync(log, 'utf8')
    .split('\0\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\0'));
  return { status: r.status, stderr: r.stderr, calls };
}

function syntaxOk(script: string): { status: number | null; stderr: string } {
  const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

function node(name: string): Sender {
  return sender(workload('', 'Node', name), {
    id: `node/${name}`,
    kind: 'node',
    workload: null,
    selector: {},
    namespaceLabels: {},
  });
}

function script(r: InferenceResult, options: EmitOptions = none): string {
  const files = emitExoscaleSecurityGroups(r, options);
  expect(files.map((f) => f.path)).toEqual(['exoscale-sg/rules.sh']);
  return files[0]!.content;
}

describe('emitExoscaleSecurityGroups', () => {
  test('a script sh accepts: shebang, header, set -eu, the SG variable, then the seed’s mandatory rules verbatim', () => {
    const text = script(result([], []));
    expect(syntaxOk(text)).toEqual({ status: 0, stderr: '' });
    const lines = text.split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines[1]).toMatch(
      /^# Candidate Exoscale SKS egress security group rules generated by egress-learner/,
    );
    const firstCommand = lines.findIndex((l) => l !== '' && !l.startsWith('#'));
    expect(lines[firstCommand]).toBe('set -eu');
    expect(lines[firstCommand + 2]).toBe('SG="${SG:-sks-egress-security-group}"');
    expect(text).toContain(SEED_COMMANDS.replaceAll('sks-egress-security-group', '"$SG"'));
    expect(text).toContain('# (none)');
    // Every command names the group through the variable.
    for (const l of lines.filter((x) => x.startsWith('exo ')))
      expect(l).toBe('exo compute security-group rule add "$SG" \\');
  });

  test('running it calls exo with the seed’s arguments, then one rule per learned CIDR and port', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const n = node('n1');
    const eps = [
      endpoint(
        web,
        hostDest('api.example.com', [
          exact('203.0.113.10/32'),
          {
            cidr: '2001:db8::/48',
            basis: 'observed',
            addresses: 3,
            provider: '',
            reason: 'three addresses in one /48',
          },
        ]),
        { port: 8443 },
      ),
      endpoint(n, addressDest([exact('192.0.2.0/24')]), { protocol: 'UDP', port: 4789 }),
    ];
    const text = script(result([web, n], eps));
    expect(syntaxOk(text).status).toBe(0);
    const run = runScript(text, { SG: 'my-sks-nodes' });
    expect(run.status).toBe(0);
    const d = (id: string) => `egress-learner id=${id} flows=120 last=2026-11-14`;
    expect(run.calls).toEqual([
      ...mandatoryArgv('my-sks-nodes'),
      learnedArgv('my-sks-nodes', d(eps[0]!.id), 'tcp', '203.0.113.10/32', '8443'),
      learnedArgv('my-sks-nodes', d(eps[0]!.id), 'tcp', '2001:db8::/48', '8443'),
      learnedArgv('my-sks-nodes', d(eps[1]!.id), 'udp', '192.0.2.0/24', '4789'),
    ]);
    // Evidence sits in comments right above each command; the fold reason only above its own CIDR.
    expect(text).toContain(
      `# shop/Deployment/web -> api.example.com 8443/TCP\n# flows=120 bytes=345000 first=2026-11-01T00:00:00Z`,
    );
    expect(text).toContain(
      '# 2001:db8::/48: three addresses in one /48\nexo compute security-group rule add "$SG" \\\n',
    );
    expect(text.match(/three addresses/g)).toHaveLength(1);
  });

  test('the default group is the seed’s, and a hostile SG value stops the script before any exo call', () => {
    const text = script(result([], []));
    const ok = runScript(text);
    expect(ok.status).toBe(0);
    expect(ok.calls).toEqual(mandatoryArgv('sks-egress-security-group'));
    for (const bad of ['--flow=ingress', 'a b', 'x;reboot', '$(reboot)', 'a\nb']) {
      const r = runScript(text, { SG: bad });
      expect(r.status).toBe(1);
      expect(r.calls).toEqual([]);
      expect(r.stderr).toContain('SG must be a security group name or id');
    }
  });

  test('hostile learned values never reach the script, and what is left still runs', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const evil = sender(workload('shop', 'Deployment', 'evil$(reboot)`reboot`'));
    const hostile = [
      endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'h0', port: 8080 }),
      endpoint(web, addressDest([exact('::/0')]), { id: 'h1', port: 8081 }),
      endpoint(web, addressDest([exact('10.0.0.1/32;reboot')]), { id: 'h2', port: 8082 }),
      endpoint(web, addressDest([exact('$(reboot)')]), { id: 'h3', port: 8083 }),
      endpoint(web, addressDest([exact('10.0.0.1/24')]), { id: 'h4', port: 8084 }),
      endpoint(web, addressDest([exact('198.51.100.1/32')]), { id: 'h5', port: 0 }),
      endpoint(web, addressDest([exact('198.51.100.2/32')]), { id: 'h6', port: 65536 }),
      endpoint(web, addressDest([exact('198.51.100.3/32')]), { id: 'h7', port: 1.5 }),
      endpoint(web, hostDest('x.example.com";reboot;"', [exact('198.51.100.4/32')]), {
        id: 'h8',
        port: 9443,
      }),
      endpoint(web, addressDest([exact('198.51.100.5/32')], 'internet', '`reboot`\n$(reboot)'), {
        id: 'h9',
        port: 9444,
      }),
      endpoint(evil, addressDest([exact('198.51.100.6/32')]), { id: 'h10', port: 9445 }),
    ];
    const text = script(result([web, evil], hostile));
    for (const bad of [
      ';reboot',
      '$(',
      '`',
      '0.0.0.0/0 \\\n--flow egress \\\n--port 8080',
      '::/0',
      '10.0.0.1',
      '65536',
      '1.5',
    ]) {
      expect(text).not.toContain(bad);
    }
    for (const id of ['h0', 'h1', 'h2', 'h3', 'h4'])
      expect(text).toContain(`#   endpoint ${id}: a CIDR is not valid or allows everything, dropped`);
    for (const id of ['h5', 'h6', 'h7'])
      expect(text).toContain(`#   endpoint ${id}: port is not 1-65535, dropped`);
    expect(text).toContain('# shop/Deployment/web -> a host name that is not valid (withheld) 9443/TCP');
    expect(syntaxOk(text).status).toBe(0);
    const run = runScript(text);
    expect(run.status).toBe(0);
    expect(run.calls.slice(6).map((c) => [c[10], c[14]])).toEqual([
      ['198.51.100.4/32', '9443'],
      ['198.51.100.5/32', '9444'],
      ['198.51.100.6/32', '9445'],
    ]);
  });

  test('allow-any: a learned 0.0.0.0/0 already covered by a mandatory rule is not added twice', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const eps = [
      endpoint(web, addressDest([exact('0.0.0.0/0')])),
      endpoint(web, addressDest([exact('0.0.0.0/0')]), { port: 8443 }),
    ];
    const base = result([web], eps);
    const text = script({ ...base, settings: { ...base.settings, allowAny: true } });
    expect(text).toContain(
      '# already allowed by the mandatory rule "Container images pull", not added twice',
    );
    const run = runScript(text);
    expect(run.calls.slice(6).map((c) => [c[10], c[14]])).toEqual([['0.0.0.0/0', '8443']]);
  });

  test('suspicious rules are commented out, rare ones listed, rejected ones absent, accepted ones marked', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const eps = [
      endpoint(web, addressDest([exact('198.51.100.66/32')]), {
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'raw address on 4444' }],
      }),
      endpoint(web, hostDest('rare.example.com', [exact('203.0.113.50/32')]), { rare: true }),
      endpoint(web, hostDest('nope.example.com', [exact('203.0.113.51/32')]), { id: 'rejectedid1' }),
      endpoint(web, hostDest('yes.example.com', [exact('203.0.113.52/32')]), { id: 'acceptedid1' }),
    ];
    const opts: EmitOptions = {
      scope: 'namespace',
      accepted: new Set(['acceptedid1']),
      rejected: new Set(['rejectedid1']),
    };
    const text = script(result([web], eps), opts);
    expect(text).not.toContain('rejectedid1');
    expect(text).not.toContain('203.0.113.51');
    expect(text).toContain('# SUSPICIOUS, not enabled: raw-ip-unusual-port (raw address on 4444)');
    expect(text).toContain('# exo compute security-group rule add "$SG" \\\n# --description');
    expect(text).toContain('# --network 198.51.100.66/32 \\');
    expect(text).toContain(
      '# Seen rarely, not enabled:\n#   shop/Deployment/web -> rare.example.com 443/TCP: flows=120',
    );
    expect(text).toContain('# shop/Deployment/web -> yes.example.com 443/TCP (accepted by a reviewer)');
    expect(syntaxOk(text).status).toBe(0);
    const run = runScript(text);
    expect(run.calls.slice(6).map((c) => c[10])).toEqual(['203.0.113.52/32']);
  });

  test('one rule per CIDR and port across senders; proxy, peer, instance, ICMP and name-only endpoints are left out', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const api = sender(workload('shop', 'Deployment', 'api'));
    const inst = sender(workload('', 'Instance', 'i-0abc'), {
      id: 'instance/i-0abc',
      kind: 'instance',
      workload: null,
    });
    const eps = [
      endpoint(web, addressDest([exact('203.0.113.10/32')]), { id: 'bbb', port: 8443 }),
      endpoint(api, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'aaa', port: 8443 }),
      endpoint(web, hostDest('proxied.example.com', [exact('203.0.113.77/32')]), { via: 'proxy' }),
      endpoint(web, peerDest(workload('shop', 'StatefulSet', 'db')), { port: 5432 }),
      endpoint(inst, addressDest([exact('203.0.113.78/32')])),
      endpoint(web, addressDest([exact('203.0.113.79/32')]), { protocol: 'ICMP', port: 0 }),
      endpoint(web, addressDest([exact('203.0.113.80/32')]), { protocol: 'SCTP', port: 3868 }),
      endpoint(web, hostDest('nameonly.example.com', [])),
    ];
    const text = script(result([web, api, inst], eps));
    const run = runScript(text);
    expect(run.calls.slice(6)).toEqual([
      learnedArgv(
        'sks-egress-security-group',
        'egress-learner id=aaa (+1 more) flows=240 last=2026-11-14',
        'tcp',
        '203.0.113.10/32',
        '8443',
      ),
    ]);
    expect(text).toContain(
      '#   shop/Deployment/web: 1 endpoint(s) reached through the egress proxy, enforced there',
    );
    expect(text).toContain('#   shop/Deployment/web: 1 endpoint(s) to in-cluster peers');
    expect(text).toContain('#   instance/i-0abc: 1 endpoint(s) of a cloud instance, not an SKS node');
    expect(text).toContain(`#   endpoint ${eps[5]!.id}: ICMP is not written as a rule here`);
    expect(text).toContain(`#   endpoint ${eps[6]!.id}: SCTP is not written as a rule here`);
    expect(text).toContain(
      `#   endpoint ${eps[7]!.id}: shop/Deployment/web -> nameonly.example.com 443/TCP has no address form`,
    );
    for (const gone of ['203.0.113.77', '203.0.113.78', '203.0.113.79', '203.0.113.80'])
      expect(text).not.toContain(gone);
  });

  test('a learned TCP 443 rule notes that the mandatory rule also allows it', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const text = script(result([web], [endpoint(web, addressDest([exact('203.0.113.10/32')]))]));
    expect(text).toContain(
      '# also allowed by the mandatory rule "Container images pull"; kept so it survives',
    );
    expect(runScript(text).calls).toHaveLength(7);
  });

  test('same input gives the same bytes, whatever the input order', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const n = node('n1');
    const eps = [
      endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32'), exact('2001:db8::10/128')])),
      endpoint(n, addressDest([exact('198.51.100.0/24')]), { protocol: 'UDP', port: 123 }),
      endpoint(web, addressDest([exact('192.0.2.0/24')]), { port: 9100 }),
      endpoint(web, addressDest([exact('198.51.100.66/32')]), {
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'x' }],
      }),
      endpoint(n, hostDest('rare.example.com', [exact('192.0.2.99/32')]), { rare: true }),
    ];
    const a = script(result([web, n], eps));
    expect(script(result([web, n], eps))).toBe(a);
    const shuffled: InferenceResult = {
      ...result([web, n], eps),
      senders: [n, web],
      endpoints: [eps[4]!, eps[2]!, eps[0]!, eps[3]!, eps[1]!],
    };
    expect(script(shuffled)).toBe(a);
  });
});

describe('exoDescription', () => {
  test('keeps a character set that is inert inside double quotes, at most 255 characters', () => {
    expect(exoDescription('a "b" $c `d` \\e\nf; g|h & ok:/()=,+._-')).toBe('a b c d e f g h ok:/()=,+._-');
    expect(exoDescription('x'.repeat(300))).toHaveLength(255);
  });
});
