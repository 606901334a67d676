import { expandPaths, type SourceRef } from '../../collectors/sources/open.js';
import type { IngestProgress, IngestResult } from '../ingest/ingest.js';
import { UsageError, type KnownError } from '../model/errors.js';
import type { Store } from '../store/store.js';
import { logger, openForWrite, say, type GlobalOptions } from './context.js';
import { ProgressLine } from './progress.js';
import { parseDuration } from './time-window.js';

/** How a run is named in its summary, and what the user asked of it. */
export interface CollectRun {
  readonly name: string;
  readonly output: string | undefined;
  readonly bucket: string | undefined;
}

/** What the shared runner hands the format-specific ingest: progress reporting and the interrupt signal. */
export interface CollectHooks {
  readonly onProgress: (p: IngestProgress) => void;
  readonly signal: AbortSignal;
}

/**
 * The part of every `collect <format>` that is not about the format: the bucket width, the inputs, the
 * database, progress on a terminal, SIGINT/SIGTERM as a saved interrupt, the summary (a line on stderr, or JSON
 * on stdout), and one line per input that could not be read.
 */
export async function runCollect(
  g: GlobalOptions,
  paths: readonly string[],
  run: CollectRun,
  ingestWith: (store: Store, refs: readonly SourceRef[], hooks: CollectHooks) => Promise<IngestResult>,
): Promise<void> {
  let bucket: number | undefined;
  if (run.bucket !== undefined) {
    const d = parseDuration(run.bucket);
    if (d === null || d < 1 || !Number.isInteger(d) || 86400 % d !== 0) {
      throw new UsageError(
        `--bucket ${JSON.stringify(run.bucket)}: expected a duration that divides a day, e.g. 1h`,
      );
    }
    bucket = d;
  }
  const log = logger(g);
  const refs = await expandPaths(paths, (dir) => log.warn({ path: dir }, 'no files in this directory'));
  // Ingest writes edges in key order and needs few pages at a time: a small cache keeps its memory flat. It only
  // upserts, so its statement journals can stay in memory.
  const store = openForWrite(g, { cacheMb: 8, memoryTemp: true });
  const progress = new ProgressLine(!g.quiet && process.stderr.isTTY === true);
  const abort = new AbortController();
  const fromStdin = refs.some((r) => r.path === null);
  const onSignal = (): void => {
    abort.abort();
    // A read blocked on an idle pipe would wait for the writer forever: end it, keeping what was read.
    if (fromStdin) process.stdin.destroy();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = performance.now();
  let result: IngestResult;
  try {
    store.bucketSeconds(bucket);
    result = await ingestWith(store, refs, { onProgress: (p) => progress.update(p), signal: abort.signal });
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
  if (run.output === 'json') {
    process.stdout.write(`${JSON.stringify(summaryJson(run.name, result, seconds), null, 2)}\n`);
  } else if (!g.quiet) {
    say(g, summaryLine(run.name, result, seconds));
  }
  if (process.env.EGRESS_LEARNER_REPORT_RSS === '1') {
    process.stderr.write(`maxrss_kb=${process.resourceUsage().maxRSS}\n`);
  }
  const failed = result.sources.filter((s) => s.error !== null);
  for (const s of failed.slice(0, -1)) say(g, `egress-learner: ${s.error!.message}`, 'error');
  if (failed.length > 0) throw failed[failed.length - 1]!.error as KnownError;
  if (abort.signal.aborted) {
    say(g, 'egress-learner: interrupted; progress is saved, run the same command to continue\n');
    process.exitCode = 130;
  }
}

function summaryLine(name: string, r: IngestResult, seconds: number): string {
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
    `${name}: read ${fmt(t.records)} records from ${r.sources.length} source${r.sources.length === 1 ? '' : 's'}` +
    `${unchanged > 0 ? ` (${unchanged} already ingested)` : ''} in ${seconds.toFixed(1)} s (${fmt(rate)} records/s): ` +
    `stored ${fmt(t.stored)}, skipped ${fmt(t.skipped)}, malformed ${fmt(t.malformed)}` +
    (reasons ? ` [${reasons}]` : '') +
    (t.malformed > 0 ? `; see 'egress-learner query quarantine'` : '')
  );
}

function summaryJson(name: string, r: IngestResult, seconds: number): unknown {
  return {
    format: name,
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
