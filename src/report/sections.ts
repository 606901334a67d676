/**
 * The report's sections as titled tables, in reading order: what both the markdown and the HTML renderer show.
 * Cells are plain text; each renderer escapes them for its own format.
 */
import type { ReportCandidate, ReportData } from './build.js';
import { bytes, day, iso, percent } from './format.js';

export type Cell = string | number;

export interface Section {
  readonly title: string;
  readonly level: 2 | 3;
  /** Text before the table. */
  readonly text?: string;
  readonly head?: readonly string[];
  readonly rows?: readonly (readonly Cell[])[];
  /** Shown instead of an empty table. */
  readonly empty?: string;
}

function candidates(
  title: string,
  list: readonly ReportCandidate[],
  seen: 'first' | 'last' = 'first',
): Section {
  return {
    title,
    level: 2,
    head: [
      'id',
      'workload',
      'endpoint',
      'port',
      'state',
      seen === 'first' ? 'first seen' : 'last seen',
      'flows',
      'flags',
    ],
    rows: list.map((c) => [
      c.id,
      c.sender,
      c.target,
      `${c.port}/${c.protocol}${c.via === 'proxy' ? ' (proxy)' : ''}`,
      c.state,
      iso(seen === 'first' ? c.firstSeen : c.lastSeen),
      c.flows,
      c.flags.join(', '),
    ]),
  };
}

/** One line: how many of each finding. */
export function summaryCounts(r: ReportData): [string, number][] {
  const out: [string, number][] = [
    ['new endpoints', r.newEndpoints.length],
    ['rules added', r.ruleChanges.added.length],
    ['rules removed', r.ruleChanges.removed.length],
    ['rules changed', r.ruleChanges.changed.length],
    ['undecided', r.undecided.length],
    ['flagged', r.flagged.length],
  ];
  if (r.denied !== null) out.push(['denied by policies', r.denied.length]);
  return out;
}

export function windowText(r: ReportData): string {
  return `Window ${iso(r.window.since)} .. ${iso(r.window.until)}; suggest run ${r.runs.current ?? '–'} compared with ${r.runs.previous ?? '–'}.`;
}

export function sections(r: ReportData, staleDays: number): Section[] {
  const all = r.coverage.find((c) => c.scope === 'all');
  return [
    candidates('New endpoints per workload', r.newEndpoints),
    candidates(`Not seen for ${staleDays} days (candidates for removal)`, r.staleEndpoints, 'last'),
    candidates('Candidate rules added', r.ruleChanges.added),
    candidates('Candidate rules removed', r.ruleChanges.removed, 'last'),
    candidates('Candidate rules changed', r.ruleChanges.changed),
    candidates('Undecided candidates', r.undecided),
    candidates('Flagged suspicious endpoints', r.flagged),
    r.denied === null
      ? {
          title: 'Traffic current policies deny',
          level: 2,
          empty: 'No policies given (report --policies <dir>).',
        }
      : {
          title: 'Traffic current policies deny',
          level: 2,
          head: ['workload', 'endpoint', 'port', 'flows', 'why'],
          rows: r.denied.map((d) => [d.sender, d.target, `${d.port}/${d.protocol}`, d.flows, d.reason]),
        },
    {
      title: 'Attribution coverage',
      level: 2,
      head: ['scope', 'flows', 'to a workload', 'to a node only', 'to an instance', 'to nothing'],
      rows: r.coverage.map((c) => [
        c.scope === 'all' ? 'all' : `${c.scope}: ${c.key}`,
        c.total.flows,
        percent(c.outcomes.workload.flows, c.total.flows),
        percent(c.outcomes.node.flows, c.total.flows),
        percent(c.outcomes.instance.flows, c.total.flows),
        percent(c.outcomes.none.flows, c.total.flows),
      ]),
    },
    ...(all === undefined
      ? []
      : [
          {
            title: 'Why flows were not attributed',
            level: 3 as const,
            head: ['reason', 'flows'],
            rows: Object.entries(all.reasons).map(([k, v]) => [k, v.flows]),
            empty: 'Nothing missing.',
          },
        ]),
    {
      title: 'Top talkers by bytes',
      level: 2,
      head: ['workload', 'flows', 'bytes'],
      rows: r.topTalkers.map((t) => [t.workload, t.flows, bytes(t.bytes)]),
    },
    {
      title: 'Ingest health',
      level: 2,
      text: `${r.ingest.sources} inputs, ${r.ingest.records} records, ${r.ingest.malformed} malformed.`,
      head: ['kind', 'reason', 'lines'],
      rows: r.ingest.quarantine.map((q) => [q.kind, q.reason, q.count]),
    },
    {
      title: 'Gaps in input',
      level: 3,
      head: ['source', 'from', 'to'],
      rows: r.ingest.gaps.map((g) => [g.kind, iso(g.from), iso(g.to)]),
    },
    {
      title: 'Traffic per day',
      level: 2,
      head: ['day', 'flows', 'bytes', 'new endpoints', 'attributed'],
      rows: r.charts.trafficPerDay.map((t) => [
        day(t.day),
        t.flows,
        bytes(t.bytes),
        r.charts.newEndpointsPerDay.find((n) => n.day === t.day)?.count ?? 0,
        `${(r.charts.coveragePerDay.find((c) => c.day === t.day)?.attributed ?? 0).toFixed(1)} %`,
      ]),
    },
  ];
}
