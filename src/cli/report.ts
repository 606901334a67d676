import { join } from 'node:path';
import { Command } from 'commander';
import { attributionUsesCache, refreshAttribution } from '../identity/refresh-attribution.js';
import { UsageError } from '../model/errors.js';
import { buildReport } from '../report/build.js';
import { renderHtml } from '../report/html.js';
import { renderMarkdown } from '../report/markdown.js';
import { lastReport, recordReport } from '../store/report-query.js';
import { openForRead, openForWrite, say, type GlobalOptions } from './context.js';
import { protocolLabel } from '../model/endpoint.js';
import { loadPolicyLayers, replayStore, withPolicyOptions } from './audit.js';
import { collect } from './query.js';
import { isoTime, parseInstant } from './time-window.js';
import { makeOutDir, writeOutFile } from './out-path.js';

export const REPORT_FORMATS = ['md', 'html', 'json'] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];

const DAY = 86_400;
export function reportCommand(now: () => number): Command {
  return withPolicyOptions(new Command('report'))
    .description('the nightly report: what changed since the last report, what awaits review, ingest health')
    .requiredOption('--out <dir>', 'directory for report.md, report.html, report.json')
    .option('--format <list>', `formats (comma-separated): ${REPORT_FORMATS.join(', ')}`, collect)
    .option('--since <when>', 'start of the window (default: the end of the last report, else 24h)')
    .option('--until <when>', 'end of the window (default: now)')
    .option('--stale-days <n>', 'endpoints not seen for this many days are listed for removal', '7')
    .option('--chart-days <n>', 'days the charts show', '14')
    .option('--top <n>', 'top talkers listed', '10')
    .addHelpText(
      'after',
      '\nExamples:\n  egress-learner report --out reports/$(date +%F) --from-cluster\n  egress-learner report --since 7d --format md --out weekly/\n\nRun it after `suggest`: it compares the latest two suggest runs.',
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const t = now();
      const formats = ((opts.format as string[] | undefined) ?? [...REPORT_FORMATS]).map((f) => {
        if (!(REPORT_FORMATS as readonly string[]).includes(f))
          throw new UsageError(`--format ${JSON.stringify(f)}: expected ${REPORT_FORMATS.join(', ')}`);
        return f as ReportFormat;
      });
      const num = (k: string, flag: string): number => {
        const v = String(opts[k]);
        if (!/^\d+$/.test(v) || Number(v) < 1)
          throw new UsageError(`${flag} ${JSON.stringify(v)}: expected a positive integer`);
        return Number(v);
      };
      const staleDays = num('staleDays', '--stale-days');
      const chartDays = num('chartDays', '--chart-days');
      const topN = num('top', '--top');
      const until = opts.until === undefined ? t : parseInstant(String(opts.until), t, '--until');
      openForRead(g).close(); // the database must exist
      const store = openForWrite(g);
      try {
        const previous = lastReport(store.db);
        // The last report covered traffic up to its --until or the time it ran, whichever came first (a database
        // may hold a window recorded as ending in the future by an earlier version).
        const previousEnd = previous === null ? null : Math.min(previous.until, previous.at);
        const since =
          opts.since !== undefined
            ? parseInstant(String(opts.since), t, '--since')
            : (previousEnd ?? until - DAY);
        if (since > until)
          throw new UsageError(
            opts.since !== undefined
              ? `--since is after ${opts.until !== undefined ? '--until' : 'now'}`
              : `the last report's window ended at ${isoTime(previousEnd!)}, after ${opts.until !== undefined ? `--until ${isoTime(until)}` : 'now'}: give --since`,
          );
        const attribution = attributionUsesCache(store.db);
        if (attribution) refreshAttribution(store.db);
        const layers = await loadPolicyLayers(g, opts);
        const denied =
          layers === null
            ? null
            : replayStore(store.db, layers, { since, until })
                .rows.filter((r) => r.verdict === 'denied')
                .map((r) => ({
                  sender: r.sender,
                  target: r.target,
                  port: r.port,
                  protocol: protocolLabel(r.protocol),
                  flows: r.flows,
                  reason: r.layers
                    .map((l) => l.reason)
                    .filter((x) => x !== '')
                    .join('; '),
                }));
        const data = buildReport(
          store.db,
          {
            since,
            until,
            chartSince: until - chartDays * DAY,
            now: t,
            staleDays,
            bucketSeconds: store.bucketSeconds(),
            attribution,
            topN,
          },
          denied,
        );
        const out = String(opts.out);
        makeOutDir(out);
        for (const f of formats) {
          const text =
            f === 'md'
              ? renderMarkdown(data, staleDays)
              : f === 'html'
                ? renderHtml(data, staleDays)
                : `${JSON.stringify(data, null, 2)}\n`;
          writeOutFile(join(out, `report.${f}`), text);
        }
        // A window ending after now covered traffic up to now only: the next report starts there, not at a time to
        // come (which would refuse every report until then).
        recordReport(store.db, { at: t, since, until: Math.min(until, t), run: data.runs.current });
        if (g.quiet !== true)
          say(
            g,
            `report: ${data.newEndpoints.length} new endpoints, ${data.undecided.length} undecided, ${data.flagged.length} flagged; written to ${out}\n`,
          );
      } finally {
        store.close();
      }
    });
}
