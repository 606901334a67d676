import { copyFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/dns/dnsmasq-extra.log', import.meta.url));

describe('query dns', () => {
  it('finds the names an address was an answer for, by suffix and by CIDR', () => {
    const dir = tempDir();
    const log = join(dir, 'dnsmasq.log');
    copyFileSync(FIXTURE, log);
    const db = join(dir, 'x.db');
    const c = cli(['collect', 'dns', '--format', 'dnsmasq', '--year', '2026', '-q', '--db', db, log]);
    expect(c.code).toBe(0);
    const q = (...a: string[]) =>
      JSON.parse(cli(['query', 'dns', '--db', db, ...a, '-o', 'json']).stdout) as Record<string, unknown>[];
    const byName = q('--name', '*.internal.test');
    expect(byName.length).toBeGreaterThan(0);
    expect(byName.every((r) => String(r.name).endsWith('.internal.test'))).toBe(true);
    const byAnswer = q('--answer', '192.0.2.0/28');
    expect(byAnswer.map((r) => r.name)).toContain('example.test');
    expect(byAnswer.every((r) => String(r.answer).startsWith('192.0.2.'))).toBe(true);
    // The window's ends are both in it, as for query flows: --until at an answer's first sighting keeps it.
    const first = byName.map((r) => String(r.firstSeen)).sort()[0]!;
    const upTo = q('--name', '*.internal.test', '--since', '2026-01-01T00:00:00Z', '--until', first);
    expect(upTo.length).toBeGreaterThan(0);
    expect(upTo.every((r) => String(r.firstSeen) === first)).toBe(true);
  });
});

describe('collect dns --format dnsmasq --tz', () => {
  it('stores the same line at the same instant whatever the zone of the machine reading it', () => {
    const dir = tempDir();
    const log = join(dir, 'dnsmasq.log');
    writeFileSync(
      log,
      'Dec  5 10:00:00 dnsmasq[1]: 1 10.1.1.10/4680 query[A] tz.example.com from 10.1.1.10\n' +
        'Dec  5 10:00:00 dnsmasq[1]: 1 10.1.1.10/4680 reply tz.example.com is 192.0.2.55\n',
    );
    const seen = (machineTz: string, ...flags: string[]): string => {
      const db = join(dir, `${machineTz.replace('/', '-')}${flags.length}.db`);
      const args = [
        'collect',
        'dns',
        '--format',
        'dnsmasq',
        '--year',
        '2026',
        ...flags,
        '-q',
        '--db',
        db,
        log,
      ];
      expect(cli(args, { env: { TZ: machineTz } }).code).toBe(0);
      const rows = JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json']).stdout) as {
        firstSeen: string;
      }[];
      return rows.map((r) => r.firstSeen).join();
    };
    // The log host is in Berlin (CET in December, UTC+1).
    for (const machine of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      expect(seen(machine, '--tz', 'Europe/Berlin')).toBe('2026-12-05T09:00:00Z');
    }
    expect(seen('UTC', '--tz', '+01:00')).toBe('2026-12-05T09:00:00Z');
    // Without --tz, the zone of the machine running egress-learner.
    expect(seen('America/New_York')).toBe('2026-12-05T15:00:00Z');
    const bad = cli([
      'collect',
      'dns',
      '--format',
      'dnsmasq',
      '--tz',
      'Mars/Olympus',
      '--db',
      join(dir, 'x.db'),
      log,
    ]);
    expect([bad.code, bad.stderr]).toEqual([
      1,
      'egress-learner: --tz "Mars/Olympus": expected an IANA time zone (Europe/Berlin, UTC) or a UTC offset (+05:30)\n',
    ]);
  });
});

describe('collect dns --format coredns', () => {
  it('stores a {combined} line under its record type, so the asking pod is known for the address it asked for', () => {
    const dir = tempDir();
    const log = join(dir, 'coredns.log');
    writeFileSync(
      log,
      '2026-11-23T02:01:50.000000000Z [INFO] 10.1.2.3:42537 - 13123 "A IN www.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s "0"\n',
    );
    const db = join(dir, 'x.db');
    expect(cli(['collect', 'dns', '--format', 'coredns', '-q', '--db', db, log]).code).toBe(0);
    const rows = JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(rows).toMatchObject([
      {
        name: 'www.example.com',
        client: '10.1.2.3',
        type: 'A',
        rcode: 'NOERROR',
        firstSeen: '2026-11-23T02:01:50Z',
      },
    ]);
  });
});

describe('collect dns --format coredns, container logs', () => {
  it('reads the files kubelet keeps (CRI and Docker json-file) and quarantines what is no CoreDNS line', () => {
    const dir = tempDir();
    const cri = join(dir, 'coredns-5d78c9869d-x2k8q_kube-system_coredns-0123.log');
    writeFileSync(
      cri,
      '2026-11-23T02:37:40.991793841Z stdout F CoreDNS-1.11.4\n' +
        '2026-11-23T02:37:41.123456789Z stdout F [INFO] 10.1.2.3:42537 - 13123 "A IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s\n' +
        '2026-11-23T02:37:42.123456789Z stdout F [INFO] 10.1.2.3:42538 - 13124 "AAAA IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s\n' +
        '2026-11-23T02:37:43Z stdout F Nov 23 02:37:43 node1 coredns[812]: [INFO] 10.1.2.3:1 A x.example.com. NOERROR\n',
    );
    const docker = join(dir, 'coredns-json.log');
    writeFileSync(
      docker,
      '{"log":"[INFO] 10.1.2.4:42537 - 13123 \\"A IN api.example.com. udp 59 false 1232\\" NOERROR qr,rd,ra 100 0.001s\\n","stream":"stdout","time":"2026-11-23T03:37:41.123456789Z"}\n',
    );
    const db = join(dir, 'x.db');
    const c = cli(['collect', 'dns', '--format', 'coredns', '-o', 'json', '--db', db, cri, docker]);
    expect(c.code).toBe(0);
    expect((JSON.parse(c.stdout) as { totals: unknown }).totals).toMatchObject({
      records: 5,
      stored: 3,
      skipped: 1,
      malformed: 1,
    });
    const rows = JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(rows.map((r) => [r.client, r.type, r.firstSeen])).toEqual([
      ['10.1.2.3', 'A', '2026-11-23T02:37:41.123Z'],
      ['10.1.2.3', 'AAAA', '2026-11-23T02:37:42.123Z'],
      ['10.1.2.4', 'A', '2026-11-23T03:37:41.123Z'],
    ]);
    const q = JSON.parse(cli(['query', 'quarantine', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(q).toMatchObject([{ source: cri, line: 4, reason: 'bad_prefix' }]);
  });
});

describe('collect dns --format dnsmasq, syslog files', () => {
  it('reads RFC 3339 stamps whatever --tz says, and counts other programs as skipped, not malformed', () => {
    const dir = tempDir();
    const log = join(dir, 'syslog');
    writeFileSync(
      log,
      '2026-11-23T02:37:44.123456+01:00 node1 dnsmasq[30463]: query[A] example.test from 10.1.2.3\n' +
        '2026-11-23T02:37:44.123456+01:00 node1 dnsmasq[30463]: reply example.test is 192.0.2.10\n' +
        '2026-11-23T02:37:45.000001+01:00 node1 dnsmasq-dhcp[30463]: DHCPACK(eth0) 10.1.2.3 aa:bb:cc:dd:ee:ff host\n' +
        '2026-11-23T02:37:45.000002+01:00 node1 systemd[1]: Started foo.service.\n' +
        'Nov 23 02:37:46 node1 kernel: [12345.678901] eth0: link up\n',
    );
    const db = join(dir, 'x.db');
    const c = cli(
      ['collect', 'dns', '--format', 'dnsmasq', '--tz', 'Asia/Tokyo', '-o', 'json', '--db', db, log],
      {
        env: { TZ: 'America/New_York' },
      },
    );
    expect(c.code).toBe(0);
    const summary = JSON.parse(c.stdout) as { totals: unknown; sources: { reasons: unknown }[] };
    expect(summary.totals).toMatchObject({ records: 5, stored: 1, skipped: 4, malformed: 0 });
    expect(summary.sources[0]!.reasons).toEqual({ other_program: 3, query: 1 });
    const rows = JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(rows).toMatchObject([
      {
        name: 'example.test',
        client: '10.1.2.3',
        answer: '192.0.2.10',
        firstSeen: '2026-11-23T01:37:44.123Z',
      },
    ]);
  });
});

describe('collect dns --format dnsmasq, run again with other --tz or --year', () => {
  it('warns that the input was read with other settings, and changes nothing', () => {
    const dir = tempDir();
    const log = join(dir, 'dnsmasq.log');
    writeFileSync(
      log,
      'Nov 23 02:37:44 dnsmasq[1]: 2 10.1.2.3/41476 query[A] api.example.com from 10.1.2.3\n' +
        'Nov 23 02:37:44 dnsmasq[1]: 2 10.1.2.3/41476 reply api.example.com is 192.0.2.10\n',
    );
    utimesSync(log, new Date('2026-11-24T00:00:00Z'), new Date('2026-11-24T00:00:00Z'));
    const db = join(dir, 'x.db');
    const collect = (...flags: string[]) =>
      cli(['collect', 'dns', '--format', 'dnsmasq', ...flags, '-q', '--db', db, log], { env: { TZ: 'UTC' } });
    const stored = () =>
      (JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json']).stdout) as Record<string, unknown>[]).map(
        (r) => [r.answer, r.firstSeen, r.count],
      );
    // The user forgot --tz: the host wrote Berlin time.
    expect(collect()).toMatchObject({ code: 0, stderr: '' });
    const before = stored();
    expect(before).toEqual([['192.0.2.10', '2026-11-23T02:37:44Z', 1]]);
    expect(collect('--tz', 'Europe/Berlin')).toEqual({
      code: 0,
      stdout: '',
      stderr:
        `egress-learner: warning: ${log} was read before with --tz UTC, not --tz Europe/Berlin: its stored answers ` +
        'keep the times read then; to read it with these settings, collect it into a fresh database (--db)\n',
    });
    expect(collect('--year', '2026').stderr).toContain('was read before with no --year, not --year 2026:');
    expect(stored()).toEqual(before);
    // The same settings as the first run (UTC is this machine's zone): nothing to say.
    expect(collect('--tz', 'UTC')).toMatchObject({ code: 0, stderr: '' });
    // A fresh database reads it with the settings given.
    const fresh = join(dir, 'fresh.db');
    expect(
      cli(['collect', 'dns', '--format', 'dnsmasq', '--tz', 'Europe/Berlin', '-q', '--db', fresh, log]).code,
    ).toBe(0);
    const rows = JSON.parse(cli(['query', 'dns', '--db', fresh, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(rows.map((r) => r.firstSeen)).toEqual(['2026-11-23T01:37:44Z']);
  });
});
