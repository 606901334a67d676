import { Command, Option } from 'commander';
import { COLLECTORS } from '../../collectors/index.js';
import { expandPaths } from '../../collectors/sources/open.js';
import type { IngestResult } from '../ingest/ingest.js';
import { ingestParallel } from '../ingest/parallel.js';
import type { CollectorDescriptor } from '../model/collector.js';
import { UsageError, type KnownError } from '../model/errors.js';
import { awsInventoryCommand } from './collect-aws.js';
import { collectDnsCommand } from './collect-dns.js';
import { k8sCommand } from './collect-k8s.js';
import { logger, openForWrite, positiveInt, type GlobalOptions } from './context.js';
import { ProgressLine } from './progress.js';
import { parseDuration } from './time-window.js';

/** `collect <format>`: one subcommand per collector descriptor, with its own options and sample line. */
export function collectCommand(): Command {
  const cmd = new Command('collect').description(
    'read logs into the database (aggregated edges, not raw lines)',
  );
  for (const c of COLLECTORS) cmd.addCommand(formatCommand(c));
  cmd.addCommand(k8sCommand());
  cmd.addCommand(collectDnsCommand());
  cmd.addCommand(awsInventoryCommand());
  return cmd;
}

function formatCommand(c: CollectorDescriptor): Command {
  const cmd = new Command(c.name)
    .description(c.description)
    .argument('<paths...>', 'files, .gz files, directory trees (S3 export layout) or - for stdin')
    .option('--bucket <duration>', 'time bucket of stored edges, fixed per database (e.g. 1h, 15m)')
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addOption(new Option('--flush-lines <n>', 'lines per commit').default('1000000').hideHelp())
    .addOption(
      new Option('--max-edges <n>', 'distinct edges held before a commit').default('500000').hideHelp(),
    )
    .addOption(
      new Option(
        '--threads <n>',
        'threads: 2 reads and parses beside the database writer; 1 does both in one (default: 2 when there are 2 cores)',
      ),
    )
    .addHelpText(
      'after',
      `\nSample line:\n  ${c.sample}\n\nExamples:\n  egress-learner collect ${c.name} access.log\n  zcat *.gz | egress-learner collect ${c.name} -`,
    );
  for (const o of c.options) cmd.option(o.flags, o.description, o.defaultValue);
  cmd.action(async (paths: string[], opts: Record<string, string | undefined>, self: Command) => {
    const g = self.optsWithGlobals<GlobalOptions>();
    const parserOptions: Record<string, string | undefined> = {};
    for (const o of c.options) {
      const key = o.flags
        .replace(/^--?/, '')
        .split(/[ ,<[]/)[0]!
        .replace(/-([a-z])/g, (_m, ch: string) => ch.toUpperCase());
      parserOptions[key] = opts[key];
    }
    // Build the parser once up front so a bad format option fails before any input is touched.
    c.createParser(parserOptions, null);
    const flushLines = positiveInt(opts.flushLines!, '--flush-lines');
    const maxEdges = positiveInt(opts.maxEdges!, '--max-edges');
    const threads = opts.threads === undefined ? undefined : positiveInt(opts.threads, '--threads');
    let bucket: number | undefined;
    if (opts.bucket !== undefined) {
      const d = parseDuration(opts.bucket);
      if (d === null || d < 1 || !Number.isInteger(d) || 86400 % d !== 0) {
        throw new UsageError(
          `--bucket ${JSON.stringify(opts.bucket)}: expected a duration that divides a day, e.g. 1h`,
        );
      }
      bucket = d;
    }
    const refs = await expandPaths(paths);
    const log = logger(g);
    const store = openForWrite(g);
    const progress = new ProgressLine(!g.quiet && process.stderr.isTTY === true);
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const started = performance.now();
    let result: IngestResult;
    try {
      store.bucketSeconds(bucket);
      result = await ingestParallel(store, refs, {
        collectorName: c.name,
        threads,
        collector: c,
        parserOptions,
        flushLines,
        maxEdges,
        onProgress: (p) => progress.update(p),
        signal: abort.signal,
      });
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      store.close();
    }
    const seconds = (performance.now() - started) / 1000;
    for (const s of result.sources) {
      log.debug({ source: s.name, status: s.status, ...s.counts, reasons: s.reasons }, 'source done');
    }
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify(summaryJson(c, result, seconds), null, 2)}\n`);
    } else if (!g.quiet) {
      process.stderr.write(`${summaryLine(c, result, seconds)}\n`);
    }
    if (process.env.EGRESS_LEARNER_REPORT_RSS === '1') {
      process.stderr.write(
        `maxrss_kb=${process.resourceUsage().maxRSS} ${JSON.stringify(process.memoryUsage())}\n`,
      );
    }
    const failed = result.sources.filter((s) => s.error !== null);
    if (failed.length > 1) {
      for (const s of failed.slice(0, -1)) process.stderr.write(`egress-learner: ${s.error!.message}\n`);
    }
    if (failed.length > 0) throw failed[failed.length - 1]!.error as KnownError;
    if (abort.signal.aborted) {
      process.stderr.write(
        'egress-learner: interrupted; progress is saved, run the same command to continue\n',
      );
      process.exitCode = 130;
    }
  });
  return cmd;
}

function summaryLine(c: CollectorDescriptor, r: IngestResult, seconds: number): string {
  const t = r.totals;
  const fmt = (n: number): string => n.toLocaleString('en-US');
  const unchanged = r.sources.filter((s) => s.status === 'unchanged').length;
  const rate = seconds > 0 ? Math.round(t.records / seconds) : 0;
  const reasons = Object.entries(
    r.sources.reduce<Record<string, number>>((acc, s) => {
      for (const [k, v] of Object.entries(s.reasons)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {}),
  )
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
  return (
    `${c.name}: read ${fmt(t.records)} records from ${r.sources.length} source${r.sources.length === 1 ? '' : 's'}` +
    `${unchanged > 0 ? ` (${unchanged} already ingested)` : ''} in ${seconds.toFixed(1)} s (${fmt(rate)} records/s): ` +
    `stored ${fmt(t.stored)}, skipped ${fmt(t.skipped)}, malformed ${fmt(t.malformed)}` +
    (reasons ? ` [${reasons}]` : '') +
    (t.malformed > 0 ? `; see 'egress-learner query quarantine'` : '')
  );
}

function summaryJson(c: CollectorDescriptor, r: IngestResult, seconds: number): unknown {
  return {
    format: c.name,
    seconds: Math.round(seconds * 1000) / 1000,
    totals: r.totals,
    sources: r.sources.map((s) => ({
      name: s.name,
      sourceId: s.sourceId,
      status: s.status,
      ...s.counts,
      reasons: Object.fromEntries(Object.entries(s.reasons).sort(([a], [b]) => (a < b ? -1 : 1))),
      error: s.error?.message ?? null,
    })),
  };
}
