import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { collectorNamed } from '../../collectors/index.js';
import { expandPaths } from '../../collectors/sources/open.js';
import { demoFiles } from '../demo/dataset.js';
import { ingest } from '../ingest/ingest.js';
import { queryFlows } from '../store/flow-query.js';
import { quarantineCountsByReason } from '../store/quarantine-query.js';
import { Store } from '../store/store.js';
import type { GlobalOptions } from './context.js';
import { render, type OutputRow } from './output.js';
import { isoTime } from './time-window.js';

/** `demo`: the whole current path on the embedded dataset, into a fresh database. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('ingest the embedded demo dataset (two days of a small cluster) and show what was learned')
    .option('--keep <dir>', 'also write the demo input files here')
    .addHelpText(
      'after',
      '\nExample:\n  egress-learner demo --db demo.db && egress-learner query flows --db demo.db --group-by src,host',
    )
    .action(async (opts: { keep?: string }, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const dbFile = g.db ?? './egress-learner-demo.db';
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbFile}${suffix}`, { force: true });
      const dir = opts.keep ?? mkdtempSync(join(tmpdir(), 'egress-learner-demo-'));
      const out = (s: string): boolean => process.stdout.write(s);
      const store = new Store(dbFile);
      try {
        for (const f of demoFiles()) {
          const path = join(dir, f.name);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, f.text);
          const collector = collectorNamed(f.collector)!;
          const r = await ingest(store, await expandPaths([path]), { collector, parserOptions: {} });
          const t = r.totals;
          out(
            `collect ${f.collector} ${f.name}: ${t.records} records, stored ${t.stored}, skipped ${t.skipped}, malformed ${t.malformed}\n`,
          );
        }
        out('\nEgress by source, destination and port (top 12 by bytes):\n');
        const rows: OutputRow[] = [];
        const q = {
          filter: { direction: 'egress' as const },
          groupBy: ['src', 'dst', 'host', 'port', 'action'] as const,
          sort: 'bytes' as const,
          limit: 12,
        };
        for (const r of queryFlows(store.db, { ...q, groupBy: [...q.groupBy] })) {
          rows.push({
            src: r.src || null,
            dst: r.dst || null,
            host: r.host || null,
            port: r.port ?? null,
            action: r.action ?? null,
            flows: r.flows,
            bytes: r.bytesOut + r.bytesIn,
            firstSeen: isoTime(r.firstSeen),
            lastSeen: isoTime(r.lastSeen),
          });
        }
        out(
          render(
            rows,
            ['src', 'dst', 'host', 'port', 'action', 'flows', 'bytes', 'firstSeen', 'lastSeen'],
            'table',
          ),
        );
        out('\nQuarantined lines by reason:\n');
        out(render(quarantineCountsByReason(store.db), ['reason', 'count'], 'table'));
        out(`\nDatabase: ${dbFile}  (try: egress-learner query flows --db ${dbFile} --group-by host,port)\n`);
      } finally {
        store.close();
        if (opts.keep === undefined) rmSync(dir, { recursive: true, force: true });
      }
    });
}
