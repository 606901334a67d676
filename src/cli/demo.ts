import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { DEMO_END, DEMO_START, demoFiles } from '../demo/dataset.js';
import { destinationLabel, type Endpoint } from '../model/endpoint.js';
import { UsageError } from '../model/errors.js';
import { Store } from '../store/store.js';
import { dbPath, type GlobalOptions } from './context.js';
import { render } from './output.js';
import { buildProgram } from './program.js';
import { isoTime } from './time-window.js';
import { makeOutDir, writeOutFile } from './out-path.js';

/** Set in every database the demo creates: only such a database may be replaced by the next demo. */
const DEMO_MARK = 'demo';

/** The demo starts from a fresh database; it never deletes one it did not create (months of collected data). */
function refuseToOverwrite(db: string): void {
  if (!existsSync(db)) return;
  let mark: string | null = null;
  try {
    const store = new Store(db, { readonly: true });
    mark = store.meta(DEMO_MARK);
    store.close();
  } catch {
    // Not an egress-learner database at all: not ours to delete either.
  }
  if (mark !== '1')
    throw new UsageError(
      `${db} exists and is not a demo database: pick another --db (the demo starts from scratch)`,
    );
}

/**
 * `demo`: the whole path on the embedded dataset, through the same commands a user runs: collect the inventory
 * snapshots, DNS logs, flow logs and proxy log into a fresh database, then suggest and report.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run the whole path on the embedded demo dataset (three days of a small cluster)')
    .option('--out <dir>', 'where candidates/ and report/ are written', './egress-learner-demo')
    .option('--keep <dir>', 'also keep the demo input files here')
    .addHelpText(
      'after',
      '\nExample:\n  egress-learner demo --db demo.db && egress-learner review list --db demo.db --state undecided',
    )
    .action(async (opts: { out: string; keep?: string }, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const db = g.db === undefined ? './egress-learner-demo.db' : dbPath(g);
      refuseToOverwrite(db);
      // Before anything is collected: a demo that cannot write its results should not start.
      makeOutDir(opts.out);
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
      const marked = new Store(db);
      marked.setMeta(DEMO_MARK, '1');
      marked.close();
      const dir = opts.keep ?? mkdtempSync(join(tmpdir(), 'egress-learner-demo-'));
      const say = (s: string): boolean => process.stdout.write(s);
      // The demo's clock is the end of its dataset, so "the last report" and "now" mean the same on every run.
      const run = (args: readonly string[]) =>
        buildProgram(() => DEMO_END).parseAsync(['node', 'egress-learner', ...args, '--db', db], {
          from: 'node',
        });
      try {
        say(`Collecting the demo dataset into ${db}:\n`);
        for (const f of demoFiles()) {
          const path = join(dir, f.name);
          writeOutFile(path, f.text);
          say(`  collect ${f.collect.map((a) => (a === '{}' ? f.name : a)).join(' ')}\n`);
          await run(['collect', ...f.collect.map((a) => (a === '{}' ? path : a)), '--quiet']);
        }
        const candidates = join(opts.out, 'candidates');
        const window = ['--since', isoTime(DEMO_START), '--until', isoTime(DEMO_END)];
        say(`\nLearning endpoints and writing candidates to ${candidates}/ …\n`);
        await run(['suggest', ...window, '--out', candidates]);
        const learned = JSON.parse(readFileSync(join(candidates, 'endpoints.json'), 'utf8')) as {
          endpoints: Endpoint[];
        };
        say('\nLearned endpoints (flagged ones are written commented out):\n');
        say(
          render(
            learned.endpoints.map((e) => ({
              id: e.id.slice(0, 8),
              sender: e.sender,
              target: destinationLabel(e.destination),
              port: `${e.port}/${e.protocol}${e.via === 'proxy' ? ' via proxy' : ''}`,
              how: `${e.evidence.sender}/${e.evidence.name}`,
              flows: e.evidence.flows,
              flags: e.suspicions.map((s) => s.code).join(',') || null,
            })),
            ['id', 'sender', 'target', 'port', 'how', 'flows', 'flags'],
            'table',
          ),
        );
        const report = join(opts.out, 'report');
        say(`\nReplaying the observed traffic against the candidates (audit):\n`);
        try {
          await run(['audit', ...window, '--candidates', candidates, '--denied-only']);
        } catch (err) {
          // Exit code 3 is a finding, not a failure: the planted endpoint is denied, as it should be.
          say(`  ${(err as Error).message}\n`);
        }
        await run(['report', ...window, '--out', report, '--quiet']);
        say(`\nReport: ${join(report, 'report.html')} (also .md and .json)\n`);
        say(`Database: ${db}  (try: egress-learner review list --db ${db})\n`);
      } finally {
        if (opts.keep === undefined) rmSync(dir, { recursive: true, force: true });
      }
    });
}
