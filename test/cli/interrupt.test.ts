/**
 * SIGTERM and SIGINT stop a collect promptly even while it waits on an idle pipe (a `kubectl logs -f | collect`
 * whose writer went quiet), keep the lines read so far, and exit 130.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { V2_HEADER, vpcRecord } from '../helpers/vpc-lines.js';

describe('interrupting a collect that reads stdin', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops on ${signal} while the pipe is idle, saving what was read`, async () => {
      const db = join(tempDir(), 'i.db');
      const child = spawn(process.execPath, [CLI, 'collect', 'vpc-flow', '-', '--db', db, '-q'], {
        stdio: ['pipe', 'ignore', 'pipe'],
        env: { ...process.env, EGRESS_LEARNER_DB: '' },
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      // Even records are request halves: five flows.
      const lines = [V2_HEADER, ...[0, 2, 4, 6, 8].map(vpcRecord)];
      child.stdin.write(`${lines.join('\n')}\n`);
      // The writer stays open and silent; give the collector time to read what was written.
      await new Promise((r) => setTimeout(r, 1500));
      const at = performance.now();
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      const took = performance.now() - at;
      child.stdin.destroy();
      expect([code, took < 5000], stderr).toEqual([130, true]);
      expect(stderr).toMatch(/interrupted; progress is saved/);
      const rows = new Database(db, { readonly: true })
        .prepare('SELECT SUM(flows) AS n FROM edges')
        .get() as {
        n: number;
      };
      expect(rows.n).toBe(5);
    });
  }
});
