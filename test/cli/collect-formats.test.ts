import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcBytes, vpcFile, vpcRecord } from '../helpers/vpc-lines.js';

interface Summary {
  totals: { records: number; stored: number; skipped: number; malformed: number };
  sources: { name: string; status: string; records: number; reasons: Record<string, number> }[];
}

describe('collect from an S3 export tree', () => {
  it('reads every .log.gz under AWSLogs/ once, in path order, and counts NODATA as skipped', () => {
    const dir = tempDir();
    const root = join(dir, 'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2025/11');
    const files: string[] = [];
    for (const [day, from] of [
      ['20', 0],
      ['21', 500],
    ] as const) {
      mkdirSync(join(root, day), { recursive: true });
      const lines = vpcFile(500).split('\n').slice(0, 1);
      for (let i = from; i < from + 500; i++) lines.push(vpcRecord(i));
      lines.push('2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1763600000 1763600060 - NODATA');
      const f = join(root, day, `123456789012_vpcflowlogs_eu-west-1_fl-0abc_202511${day}T0000Z_hash.log.gz`);
      writeFileSync(f, gzipSync(`${lines.join('\n')}\n`));
      files.push(f);
    }
    const db = join(dir, 'x.db');
    const r = cli(['collect', 'vpc-flow', '-o', 'json', '--db', db, join(dir, 'AWSLogs')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.sources.map((x) => x.name)).toEqual(files);
    expect(s.totals).toEqual({ records: 1004, stored: 1000, skipped: 4, malformed: 0 });
    expect(s.sources[0]!.reasons).toEqual({ header: 1, nodata: 1 });
    const tot = JSON.parse(cli(['query', 'flows', '--db', db, '--group-by', '', '-o', 'json']).stdout) as {
      bytesOut: number;
      bytesIn: number;
    }[];
    expect(tot[0]!.bytesOut + tot[0]!.bytesIn).toBe(vpcBytes(1000));
    const sources = JSON.parse(cli(['query', 'sources', '--db', db, '-o', 'json']).stdout) as {
      done: boolean;
    }[];
    expect(sources.map((x) => x.done)).toEqual([true, true]);
  });

  it('takes the field order from --fields when the file has no header', () => {
    const dir = tempDir();
    const line = '10.0.0.5 198.51.100.9 44321 443 6 5 700 1763596800 1763596860 ACCEPT OK';
    writeFileSync(join(dir, 'custom.log'), `${line}\n`);
    const db = join(dir, 'x.db');
    const fields = 'srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
    const r = cli(['collect', 'vpc-flow', '-q', '--db', db, '--fields', fields, join(dir, 'custom.log')]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(cli(['query', 'flows', '--db', db, '-o', 'json']).stdout) as Record<
      string,
      unknown
    >[];
    expect(rows).toEqual([
      expect.objectContaining({
        src: '10.0.0.5',
        dst: '198.51.100.9',
        port: 443,
        protocol: 'tcp',
        bytesOut: 700,
      }),
    ]);
  });
});

describe('collect squid', () => {
  it('stores proxy requests by host and finds them with a *. pattern', () => {
    const dir = tempDir();
    const log = [
      '1795401345.683      7 10.0.2.21 TCP_TUNNEL/200 5120 CONNECT api.stripe.com:443 - HIER_DIRECT/198.51.100.10 -',
      '1795401346.683     12 10.0.2.21 TCP_TUNNEL/200 2048 CONNECT files.stripe.com:443 - HIER_DIRECT/198.51.100.11 -',
      '1795401347.721      1 10.0.2.66 TCP_DENIED/403 3473 CONNECT pastebin.com:443 - HIER_NONE/- text/html',
      '1795401348.721      1 10.0.2.66 this is not squid',
    ].join('\n');
    writeFileSync(join(dir, 'access.log'), `${log}\n`);
    const db = join(dir, 'x.db');
    expect(cli(['collect', 'squid', '-q', '--db', db, join(dir, 'access.log')]).code).toBe(0);
    const q = (...a: string[]) =>
      JSON.parse(cli(['query', 'flows', '--db', db, ...a, '-o', 'json']).stdout) as Record<string, unknown>[];
    expect(q('--dst', '*.stripe.com', '--group-by', 'host').map((r) => r.host)).toEqual([
      'api.stripe.com',
      'files.stripe.com',
    ]);
    expect(q('--action', 'reject', '--group-by', 'src,host')).toEqual([
      expect.objectContaining({ src: '10.0.2.66', host: 'pastebin.com', flows: 1, sources: ['squid'] }),
    ]);
    const quarantine = JSON.parse(cli(['query', 'quarantine', '--db', db, '-o', 'json']).stdout) as {
      line: number;
    }[];
    expect(quarantine.map((x) => x.line)).toEqual([4]);
  });
});

describe('demo', () => {
  it('runs the whole path on the embedded dataset: learned endpoints, the flagged exfiltration, audit, report', () => {
    const dir = tempDir();
    const r = cli(['demo', '--db', join(dir, 'demo.db'), '--out', join(dir, 'out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/shop\/Deployment\/cart +api\.stripe\.com +443\/TCP/);
    expect(r.stdout).toMatch(/10\.0\.20\.5\/32 +5432\/TCP/);
    expect(r.stdout).toMatch(/203\.0\.113\.66\/32 +4444\/TCP .*raw-ip-unusual-port/);
    expect(r.stdout).toMatch(/would be denied/);
    expect(readFileSync(join(dir, 'out', 'report', 'report.html'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(dir, 'demo.db')).length).toBeGreaterThan(0);
    // Its own database may be replaced by the next run; anything else is never deleted.
    expect(cli(['demo', '--db', join(dir, 'demo.db'), '--out', join(dir, 'out')]).code).toBe(0);
    writeFileSync(join(dir, 'precious.db'), 'months of flows');
    const refused = cli(['demo', '--db', join(dir, 'precious.db'), '--out', join(dir, 'out')]);
    expect([refused.code, refused.stderr.trim().split('\n').length]).toEqual([1, 1]);
    expect(readFileSync(join(dir, 'precious.db'), 'utf8')).toBe('months of flows');
  });
});
