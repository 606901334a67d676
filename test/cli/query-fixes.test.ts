import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CLI, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcFile } from '../helpers/vpc-lines.js';

/** A database of `n` VPC flow records (no inventory). */
function flowsDb(n: number): string {
  const dir = tempDir();
  const db = join(dir, 'x.db');
  writeFileSync(join(dir, 'flows.log'), vpcFile(n));
  expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
  return db;
}

function sql<T>(db: string, text: string, write = false): T[] {
  const d = new Database(db, { readonly: !write });
  try {
    const stmt = d.prepare(text);
    return (stmt.reader ? stmt.all() : (stmt.run(), [])) as T[];
  } finally {
    d.close();
  }
}

/** Some inventory: attribution must then go through the cache. */
function addInventory(db: string): void {
  sql(db, "INSERT INTO vpc_cidrs (cidr, vpc_id, origin) VALUES ('10.0.0.0/16', 'vpc-1', 'vpc')", true);
}

describe('query flows without inventory', () => {
  it('answers from the edges alone, never filling the attribution cache', () => {
    const db = flowsDb(300);
    const total = cli(['query', 'flows', '--db', db, '--group-by', '', '-o', 'json']);
    expect(total.code).toBe(0);
    const listed = cli(['query', 'flows', '--db', db, '-o', 'json']);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(new Set(rows.map((r) => r.workload))).toEqual(new Set(['unattributed']));
    expect(new Set(rows.map((r) => r.dstClass))).toEqual(new Set(['internet', 'private']));
    expect(cli(['query', 'coverage', '--db', db, '-o', 'json']).code).toBe(0);
    expect(sql<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM address_attribution')[0]!.n).toBe(0);
    expect(sql(db, "SELECT value FROM meta WHERE key = 'attribution_state'")).toEqual([]);
  });

  it('gives the same answers as the cache does once inventory exists', () => {
    const db = flowsDb(300);
    const args = ['query', 'flows', '--db', db, '--group-by', 'src-kind,dst-class,workload', '-o', 'json'];
    const without = cli(args);
    const cov = cli(['query', 'coverage', '--db', db, '-o', 'json']);
    // Services with no address in these flows: inventory, but changes no answer.
    sql(
      db,
      `INSERT INTO k8s_services (cluster, namespace, name, uid, type, cluster_ips, external_name, selector,
         created_at, first_seen, last_seen, deleted_at)
       VALUES ('', 'x', 'y', 'u', 'ClusterIP', '["172.20.0.9"]', '', '{}', 0, 0, 0, NULL)`,
      true,
    );
    expect(cli(args).stdout).toBe(without.stdout);
    expect(cli(['query', 'coverage', '--db', db, '-o', 'json']).stdout).toBe(cov.stdout);
    expect(sql<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM address_attribution')[0]!.n).toBeGreaterThan(0);
  });
});

describe('query flows --group-by namespace', () => {
  it('is not an ambiguous column when the cache is joined', () => {
    const db = flowsDb(200);
    addInventory(db);
    const r = cli(['query', 'flows', '--db', db, '--group-by', 'namespace,src-kind', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ namespace: null, srcKind: 'unknown', flows: expect.any(Number) }),
    ]);
  });
});

describe('query flows --group-by with an empty or repeated field', () => {
  it.each(['src,,port', 'src,', ',src', ' ', 'src,port,src', 'port,port'])(
    'refuses %s in one line, exit 1',
    (v) => {
      const db = flowsDb(10);
      const r = cli(['query', 'flows', '--db', db, '--group-by', v]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('--group-by');
      expect(r.stdout).toBe('');
    },
  );

  it("still takes a list, and '' for one total row", () => {
    const db = flowsDb(10);
    expect(cli(['query', 'flows', '--db', db, '--group-by', 'src,port']).code).toBe(0);
    const total = cli(['query', 'flows', '--db', db, '--group-by', '', '-o', 'json']);
    expect(JSON.parse(total.stdout)).toHaveLength(1);
  });
});

describe('--dst', () => {
  it.each(['10.0.0.1/8', '10.0.0.0/33', '10.0.0.300', 'fe80::1/200', 'a/b'])(
    'rejects %s as a bad address or CIDR',
    (v) => {
      const db = flowsDb(10);
      const r = cli(['query', 'flows', '--db', db, '--dst', v]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('--dst');
      expect(r.stdout).toBe('');
    },
  );

  it('still takes addresses, CIDRs, host names and *.suffix', () => {
    const db = flowsDb(30);
    for (const v of ['10.0.20.5', '10.0.0.0/16', 'example.com', '*.example.com', '::1']) {
      expect(cli(['query', 'flows', '--db', db, '--dst', v]).code).toBe(0);
    }
    const r = cli(['query', 'flows', '--db', db, '--dst', '10.0.0.0/16', '--group-by', 'dst', '-o', 'json']);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ dst: '10.0.20.5' })]);
  });
});

describe('an IPv4-mapped address or block in a filter', () => {
  it('selects the IPv4 addresses it maps, as they are stored', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    // A dual-stack squid logs IPv4 clients as ::ffff:a.b.c.d; they are stored as IPv4 addresses.
    writeFileSync(
      join(dir, 'access.log'),
      '1795132804.500    412 ::ffff:10.0.2.21 TCP_TUNNEL/200 10173 CONNECT a.example.com:443 - HIER_DIRECT/198.51.100.10 -\n' +
        '1795132805.500    412 10.0.3.9 TCP_TUNNEL/200 10173 CONNECT b.example.com:443 - HIER_DIRECT/198.51.100.11 -\n',
    );
    writeFileSync(
      join(dir, 'dnsmasq.log'),
      'Dec  5 10:00:00 dnsmasq[1]: 1 10.0.2.21/4680 query[A] a.example.com from 10.0.2.21\n' +
        'Dec  5 10:00:00 dnsmasq[1]: 1 10.0.2.21/4680 reply a.example.com is 192.0.2.55\n',
    );
    expect(cli(['collect', 'squid', '-q', '--db', db, join(dir, 'access.log')]).code).toBe(0);
    const dns = ['collect', 'dns', '--format', 'dnsmasq', '--year', '2026', '-q', '--db', db];
    expect(cli([...dns, join(dir, 'dnsmasq.log')]).code).toBe(0);
    const hosts = (...a: string[]): unknown[] => {
      const r = cli(['query', 'flows', '--db', db, '--group-by', 'host', '-o', 'json', ...a]);
      expect(r.stderr).toBe('');
      return (JSON.parse(r.stdout) as { host: string }[]).map((x) => x.host);
    };
    expect(hosts('--src', '10.0.2.21')).toEqual(['a.example.com']);
    expect(hosts('--src', '::ffff:10.0.2.21')).toEqual(['a.example.com']);
    expect(hosts('--src', '::ffff:10.0.2.0/120')).toEqual(['a.example.com']);
    expect(hosts('--src', '::ffff:10.0.0.0/112').sort()).toEqual(['a.example.com', 'b.example.com']);
    expect(hosts('--dst', '::ffff:198.51.100.11')).toEqual(['b.example.com']);
    const answers = (...a: string[]): unknown[] =>
      (JSON.parse(cli(['query', 'dns', '--db', db, '-o', 'json', ...a]).stdout) as { name: string }[]).map(
        (x) => x.name,
      );
    expect(answers('--client', '::ffff:10.0.2.21')).toEqual(['a.example.com']);
    expect(answers('--answer', '::ffff:192.0.2.0/120')).toEqual(['a.example.com']);
    // A block that is not inside ::ffff:0:0/96 stays an IPv6 block.
    expect(hosts('--src', '::/64')).toEqual([]);
  });
});

describe('a time flag far out of range', () => {
  it('is a one-line usage error, not a crash of the report or a snooze no listing can print', () => {
    const db = flowsDb(10);
    for (const args of [
      ['report', '--since', '999999999999d', '--out', join(tempDir(), 'r')],
      ['query', 'flows', '--since', '999999999999d'],
      ['review', 'snooze', 'abcdef12', '--until', '999999999999d'],
    ]) {
      const r = cli([...args, '--db', db]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^egress-learner: --(since|until) "999999999999d": out of range .*\n$/);
    }
  });
});

describe('report after a report whose window ended in the future', () => {
  it('starts the next window at the time that report ran, not at its --until', () => {
    const db = flowsDb(10);
    const report = (...a: string[]) => cli(['report', '--db', db, '--out', join(tempDir(), 'r'), ...a]);
    expect(report('--until', '2999-01-01T00:00:00Z').code).toBe(0);
    // The nightly run, without flags: it must not be refused until 2999.
    const next = report('--format', 'json');
    expect(next.stderr).not.toMatch(/after/);
    expect(next.code).toBe(0);
    // A window ending before the last report's: the message says where the start came from.
    const early = report('--until', '20d');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^egress-learner: the last report's window ended at .*give --since\n$/);
    // As an earlier version recorded it: the window's end in the future, not the time the report ran.
    sql(db, 'UPDATE reports SET until = 32503680000', true);
    expect(report().code).toBe(0);
  });
});

describe('a window start the user did not give', () => {
  it('is named as the default it is when --until falls before it', () => {
    const db = flowsDb(10);
    const suggest = cli(['suggest', '--db', db, '--until', '30d', '--out', join(tempDir(), 's')]);
    expect([suggest.code, suggest.stderr]).toEqual([
      1,
      'egress-learner: --until "30d" is before the default window start (--since 14d): give --since\n',
    ]);
    const report = cli(['report', '--db', db, '--since', '2999-01-01', '--out', join(tempDir(), 'r')]);
    expect([report.code, report.stderr]).toEqual([1, 'egress-learner: --since is after now\n']);
  });
});

describe('absurd stored times', () => {
  it('print as null instead of failing the listing', () => {
    const db = flowsDb(20);
    // edge_rows keeps 10.0.0.10 as its number.
    sql(db, 'UPDATE edge_rows SET last_seen = 1e15 WHERE src_addr = (10 << 24) + 10', true);
    for (const extra of [[], ['--group-by', 'src'], ['--group-by', 'day,hour']]) {
      const r = cli(['query', 'flows', '--db', db, '-o', 'json', ...extra]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout) as { lastSeen: string | null }[];
      expect(rows.some((x) => x.lastSeen === null)).toBe(true);
    }
  });
});

describe('output to a closed pipe', () => {
  it('ends quietly with status 0 (query flows | head -2)', () => {
    const db = flowsDb(20000);
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" "${CLI}" query flows --db "${db}" -o json | head -2; echo "rc=\${PIPESTATUS[0]}" >&2`,
      ],
      { encoding: 'utf8', env: { ...process.env, EGRESS_LEARNER_DB: '' } },
    );
    expect(r.stdout.split('\n')).toHaveLength(3);
    expect(r.stderr).toBe('rc=0\n');
  });

  it("keeps the command's own status when stderr's reader went away (… 2>&1 | grep -q)", () => {
    const db = flowsDb(20);
    const run = (args: string): string =>
      spawnSync(
        'bash',
        [
          '-c',
          `"${process.execPath}" "${CLI}" ${args} --db "${db}" 2>&1 >/dev/null | true; echo "\${PIPESTATUS[0]}"`,
        ],
        { encoding: 'utf8', env: { ...process.env, EGRESS_LEARNER_DB: '' } },
      ).stdout;
    // Each writes a line to stderr, to a pipe already closed: a warning, then a usage error.
    expect(run('query quarantine --reason nope')).toBe('0\n');
    expect(run('query flows --top 0')).toBe('1\n');
  });
});

describe('a read-only database', () => {
  /** Makes `path` unwritable even for root (chattr +i) or, failing that, by mode; null when neither works. */
  function lock(path: string): (() => void) | null {
    if (spawnSync('chattr', ['+i', path]).status === 0) return () => spawnSync('chattr', ['-i', path]);
    if (process.getuid?.() === 0) return null;
    spawnSync('chmod', ['0444', path]);
    return () => spawnSync('chmod', ['0644', path]);
  }

  it('still answers attribution queries, computing without caching', (ctx) => {
    const db = flowsDb(200);
    const want = cli(['query', 'flows', '--db', db, '--group-by', 'dst-class', '-o', 'json']).stdout;
    addInventory(db); // stale cache: a refresh is needed, and the file cannot take it
    const unlock = lock(db);
    if (unlock === null) {
      ctx.skip();
      return;
    }
    try {
      const r = cli(['query', 'flows', '--db', db, '--group-by', 'dst-class', '-o', 'json']);
      expect(r.code).toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      const rows = JSON.parse(r.stdout) as { dstClass: string }[];
      // The VPC CIDR now in the inventory turns the private destinations into `vpc`.
      expect(rows.map((x) => x.dstClass).sort()).toEqual(['internet', 'vpc']);
      expect(want).not.toBe(r.stdout);
      expect(cli(['query', 'coverage', '--db', db]).code).toBe(0);
      expect(cli(['query', 'flows', '--db', db, '--group-by', '']).code).toBe(0);
    } finally {
      unlock();
    }
    expect(sql<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM address_attribution')[0]!.n).toBe(0);
  });
});
