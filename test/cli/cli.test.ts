import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcBytes, vpcFile } from '../helpers/vpc-lines.js';

const noStack = (stderr: string): void => {
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr.trim().split('\n')).toHaveLength(1);
};

describe('cli errors', () => {
  it('prints its version', () => {
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('exits 2 with one line for a missing input', () => {
    const dir = tempDir();
    const r = cli(['collect', 'vpc-flow', '--db', join(dir, 'x.db'), join(dir, 'nope.log')]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `egress-learner: ${join(dir, 'nope.log')}: no such file or directory`,
    );
  });

  it('exits 1 with one line when the database does not exist', () => {
    const dir = tempDir();
    const r = cli(['query', 'flows', '--db', join(dir, 'missing.db')]);
    expect(r.code).toBe(1);
    noStack(r.stderr);
    expect(r.stderr).toMatch(/does not exist/);
  });

  it('exits 1 on a bad time window, naming the flag', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), vpcFile(10));
    expect(cli(['collect', 'vpc-flow', '-q', '--db', join(dir, 'x.db'), join(dir, 'f.log')]).code).toBe(0);
    const r = cli(['query', 'flows', '--db', join(dir, 'x.db'), '--since', 'yesterday']);
    expect(r.code).toBe(1);
    noStack(r.stderr);
    expect(r.stderr).toMatch(/--since "yesterday"/);
  });

  it('refuses empty, impossible and out-of-range filter values with one line, before reading', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), vpcFile(10));
    const db = join(dir, 'x.db');
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'f.log')]).code).toBe(0);
    // An unset shell variable must not widen a query to everything.
    for (const args of [
      ['--src', ''],
      ['--namespace', ''],
      ['--port', '443,,'],
      ['--label', ''],
      ['--dst', '*'],
      ['--dst', '*.*.com'],
      ['--dst', 'exa mple.com'],
      ['--namespace', 'a b'],
      ['--top', '9223372036854775807'],
    ]) {
      const r = cli(['query', 'flows', '--db', db, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      noStack(r.stderr);
      expect(r.stdout).toBe('');
    }
    expect(
      cli(['query', 'flows', '--db', db, '--dst', '*.example.com', '--namespace', 'kube-system']).code,
    ).toBe(0);
  });

  it('refuses to group by hour a database of day buckets', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), vpcFile(10));
    const db = join(dir, 'x.db');
    expect(cli(['collect', 'vpc-flow', '-q', '--bucket', '1d', '--db', db, join(dir, 'f.log')]).code).toBe(0);
    const r = cli(['query', 'flows', '--db', db, '--group-by', 'src,hour']);
    expect(r.code).toBe(1);
    noStack(r.stderr);
    expect(r.stderr).toMatch(/--group-by hour: .*86400 s buckets/);
    expect(cli(['query', 'flows', '--db', db, '--group-by', 'src,day']).code).toBe(0);
  });

  it('writes only JSON lines on stderr with --log-format json: summary, warnings and errors too', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), vpcFile(10));
    const r = cli([
      '--log-format',
      'json',
      'collect',
      'vpc-flow',
      '--db',
      join(dir, 'x.db'),
      join(dir, 'f.log'),
      join(dir, 'missing.log'),
    ]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(
      records.some((x) => x.level === 30 && /^vpc-flow: read \d+ records from 2 sources/.test(x.msg)),
    ).toBe(true);
    expect(records.at(-1)).toMatchObject({
      level: 50,
      msg: `egress-learner: ${join(dir, 'missing.log')}: no such file or directory`,
    });
    // commander's own usage errors too.
    const usage = cli(['--log-format', 'json', 'query', 'flows', '--db', join(dir, 'x.db'), '--src', '']);
    expect(usage.code).toBe(1);
    expect(JSON.parse(usage.stderr.trim())).toMatchObject({ level: 50, msg: expect.stringMatching(/--src/) });
  });

  it('exits 1 on an unknown command or option', () => {
    expect(cli(['frobnicate']).code).toBe(1);
    expect(cli(['query', 'flows', '--no-such-flag']).code).toBe(1);
  });

  it('exits 1 on a bad --fields list before reading anything', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), vpcFile(10, false));
    const r = cli([
      'collect',
      'vpc-flow',
      '--db',
      join(dir, 'x.db'),
      '--fields',
      'version bogus',
      join(dir, 'f.log'),
    ]);
    expect(r.code).toBe(1);
    noStack(r.stderr);
  });

  it('exits 2 on binary garbage and on a truncated gzip, keeping what came before the cut', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'garbage.bin'),
      Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)),
    );
    const g = cli(['collect', 'vpc-flow', '--db', join(dir, 'x.db'), join(dir, 'garbage.bin')]);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/garbage\.bin: binary data/);
    const gz = gzipSync(vpcFile(60_000));
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, gz.length - 200));
    const t = cli(['collect', 'vpc-flow', '-o', 'json', '--db', join(dir, 'x.db'), join(dir, 'cut.log.gz')]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^egress-learner: .*cut\.log\.gz: truncated gzip stream/m);
    const summary = JSON.parse(t.stdout) as { totals: { stored: number } };
    expect(summary.totals.stored).toBeGreaterThan(50_000);
  });

  it('quarantines a 10 MB single line instead of failing', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'long.log'),
      `${vpcFile(5)}${'A'.repeat(10 * 1024 * 1024)}\n${vpcFile(3, false)}`,
    );
    const r = cli(['collect', 'vpc-flow', '-o', 'json', '--db', join(dir, 'x.db'), join(dir, 'long.log')]);
    expect(r.code).toBe(0);
    const q = cli(['query', 'quarantine', '--db', join(dir, 'x.db'), '-o', 'json']);
    const rows = JSON.parse(q.stdout) as { line: number; reason: string; raw: string }[];
    expect(rows.map((x) => [x.line, x.reason, x.raw.length])).toEqual([[7, 'line_too_long', 200]]);
  });
});

describe('collect and query', () => {
  it('ingests from stdin, and the same data again from a file counts once', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    const text = vpcFile(1000);
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, '-'], { input: text }).code).toBe(0);
    writeFileSync(join(dir, 'same.log'), text);
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'same.log')]).code).toBe(0);
    const r = cli(['query', 'flows', '--db', db, '--group-by', '', '-o', 'json']);
    const [tot] = JSON.parse(r.stdout) as {
      flows: number;
      replies: number;
      bytesOut: number;
      bytesIn: number;
    }[];
    expect(tot!.flows + tot!.replies).toBe(1000);
    expect(tot!.bytesOut + tot!.bytesIn).toBe(vpcBytes(1000));
  });

  it('reads an input again when its first read stored nothing (wrong layout), replacing what it quarantined', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    const file = join(dir, 'custom.log');
    // A headerless custom format: only --fields says how to read it.
    writeFileSync(
      file,
      '10.0.0.5 93.184.216.34 40000 443 6 10 1000 1700000000 1700000060 ACCEPT OK\n' +
        '93.184.216.34 10.0.0.5 443 40000 6 8 5000 1700000000 1700000060 ACCEPT OK\n',
    );
    const fields = 'srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, file]).code).toBe(0);
    expect(JSON.parse(cli(['query', 'quarantine', '--db', db, '-o', 'json']).stdout)).toHaveLength(2);
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, '--fields', fields, file]).code).toBe(0);
    expect(JSON.parse(cli(['query', 'quarantine', '--db', db, '-o', 'json']).stdout)).toEqual([]);
    const flows = JSON.parse(cli(['query', 'flows', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ flows: 1, replies: 1, bytesOut: 1000, bytesIn: 5000 });
    const [source] = JSON.parse(cli(['query', 'sources', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(source).toMatchObject({ records: 2, stored: 2, malformed: 0 });
    // Once something is stored, the input is read once only, as ever.
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, '--fields', fields, file]).code).toBe(0);
    expect(JSON.parse(cli(['query', 'flows', '--db', db, '-o', 'json']).stdout)).toEqual(flows);
  });

  it('reads only the new lines when a stream it has read grows and is piped in again', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    const all = vpcFile(1200).split('\n');
    const first = `${all.slice(0, 1001).join('\n')}\n`;
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, '-'], { input: first }).code).toBe(0);
    const again = cli(['collect', 'vpc-flow', '-o', 'json', '--db', db, '-'], { input: all.join('\n') });
    const s = JSON.parse(again.stdout) as { totals: { records: number } };
    expect(s.totals.records).toBe(200);
    const [tot] = JSON.parse(cli(['query', 'flows', '--db', db, '--group-by', '', '-o', 'json']).stdout) as {
      flows: number;
      replies: number;
    }[];
    expect(tot!.flows + tot!.replies).toBe(1200);
  });

  it('folds reply halves: no edge starts at a server port', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    writeFileSync(join(dir, 'f.log'), vpcFile(600));
    cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'f.log')]);
    const rows = JSON.parse(
      cli(['query', 'flows', '--db', db, '--group-by', 'src,dst,port', '-o', 'json']).stdout,
    ) as {
      src: string;
      dst: string;
      port: number;
      replies: number;
    }[];
    expect(new Set(rows.map((r) => r.port))).toEqual(new Set([443, 5432]));
    expect(rows.every((r) => r.src.startsWith('10.0.') && r.src !== '10.0.20.5')).toBe(true);
    expect(rows.some((r) => r.replies > 0)).toBe(true);
  });

  it('filters by CIDR, port, action and time window, and renders csv', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    writeFileSync(join(dir, 'f.log'), vpcFile(3000));
    cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'f.log')]);
    const q = (...a: string[]) =>
      JSON.parse(cli(['query', 'flows', '--db', db, ...a, '-o', 'json']).stdout) as Record<string, unknown>[];
    const pg = q('--dst', '10.0.20.0/24', '--group-by', 'dst,port');
    expect(pg).toHaveLength(1);
    expect(pg[0]).toMatchObject({ dst: '10.0.20.5', port: 5432 });
    expect(q('--port', '5432', '--group-by', 'port').map((r) => r.port)).toEqual([5432]);
    const rejected = q('--action', 'reject', '--group-by', 'action');
    expect(rejected).toEqual([expect.objectContaining({ action: 'reject', flows: Math.ceil(3000 / 97) })]);
    const early = q('--until', '2025-11-20T00:10:00Z', '--group-by', '');
    const all = q('--group-by', '');
    expect((early[0]!.flows as number) + (early[0]!.replies as number)).toBeLessThan(
      (all[0]!.flows as number) + (all[0]!.replies as number),
    );
    const csv = cli(['query', 'flows', '--db', db, '--group-by', 'port', '-o', 'csv'])
      .stdout.trim()
      .split('\n');
    expect(csv[0]).toBe(
      'port,flows,replies,packetsOut,bytesOut,packetsIn,bytesIn,firstSeen,lastSeen,sources',
    );
    expect(csv).toHaveLength(3);
  });

  it('orders top-N by bytes deterministically', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    writeFileSync(join(dir, 'f.log'), vpcFile(2000));
    cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'f.log')]);
    const a = cli(['query', 'flows', '--db', db, '--group-by', 'src', '--top', '5', '-o', 'json']).stdout;
    const rows = JSON.parse(a) as { bytesOut: number; bytesIn: number }[];
    expect(rows).toHaveLength(5);
    const totals = rows.map((r) => r.bytesOut + r.bytesIn);
    expect([...totals].sort((x, y) => y - x)).toEqual(totals);
    expect(cli(['query', 'flows', '--db', db, '--group-by', 'src', '--top', '5', '-o', 'json']).stdout).toBe(
      a,
    );
  });
});
