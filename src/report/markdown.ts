/** The report as GitHub-flavoured markdown: for a pull request, a chat message or a mail. */
import type { ReportCandidate, ReportData } from './build.js';
import { bytes, day, iso, percent } from './format.js';

/** A table cell: pipes and line breaks would break the table, and log values are attacker-controlled. */
function cell(v: string | number): string {
  return String(v)
    .replace(/[|\\`]/g, (c) => `\\${c}`)
    .replace(/[\r\n]+/g, ' ');
}

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  if (rows.length === 0) return '_None._\n';
  const line = (r: readonly (string | number)[]) => `| ${r.map(cell).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

function candidates(list: readonly ReportCandidate[], extra: 'first' | 'last' = 'first'): string {
  return table(
    [
      'id',
      'workload',
      'endpoint',
      'port',
      'state',
      extra === 'first' ? 'first seen' : 'last seen',
      'flows',
      'flags',
    ],
    list.map((c) => [
      c.id,
      c.sender,
      c.target,
      `${c.port}/${c.protocol}${c.via === 'proxy' ? ' (proxy)' : ''}`,
      c.state,
      iso(extra === 'first' ? c.firstSeen : c.lastSeen),
      c.flows,
      c.flags.join(', '),
    ]),
  );
}

export function renderMarkdown(r: ReportData, staleDays: number): string {
  const all = r.coverage.find((c) => c.scope === 'all');
  const out: string[] = [
    `# egress-learner report ${day(r.window.until)}`,
    '',
    `Window ${iso(r.window.since)} .. ${iso(r.window.until)}; suggest run ${r.runs.current ?? '–'} compared with ${r.runs.previous ?? '–'}.`,
    '',
    `**${r.newEndpoints.length}** new endpoints, **${r.ruleChanges.added.length}** rules added, **${r.ruleChanges.removed.length}** removed, **${r.ruleChanges.changed.length}** changed, **${r.undecided.length}** undecided, **${r.flagged.length}** flagged, ` +
      (r.denied === null ? 'no policies audited.' : `**${r.denied.length}** denied by current policies.`),
    '',
    '## New endpoints per workload',
    candidates(r.newEndpoints),
    `## Not seen for ${staleDays} days (candidates for removal)`,
    candidates(r.staleEndpoints, 'last'),
    '## Candidate rules added',
    candidates(r.ruleChanges.added),
    '## Candidate rules removed',
    candidates(r.ruleChanges.removed, 'last'),
    '## Candidate rules changed',
    candidates(r.ruleChanges.changed),
    '## Undecided candidates',
    candidates(r.undecided),
    '## Flagged suspicious endpoints',
    candidates(r.flagged),
    '## Traffic current policies deny',
    r.denied === null
      ? '_No policies given (`report --policies <dir>`)._\n'
      : table(
          ['workload', 'endpoint', 'port', 'flows', 'why'],
          r.denied.map((d) => [d.sender, d.target, `${d.port}/${d.protocol}`, d.flows, d.reason]),
        ),
    '## Attribution coverage',
    table(
      ['scope', 'flows', 'to a workload', 'to a node only', 'to an instance', 'to nothing'],
      r.coverage.map((c) => [
        c.scope === 'all' ? 'all' : `${c.scope}: ${c.key}`,
        c.total.flows,
        percent(c.outcomes.workload.flows, c.total.flows),
        percent(c.outcomes.node.flows, c.total.flows),
        percent(c.outcomes.instance.flows, c.total.flows),
        percent(c.outcomes.none.flows, c.total.flows),
      ]),
    ),
    all === undefined
      ? ''
      : `Why not attributed: ${
          Object.entries(all.reasons)
            .map(([k, v]) => `${k} ${v.flows}`)
            .join(', ') || 'nothing missing'
        }.\n`,
    '## Top talkers by bytes',
    table(
      ['workload', 'flows', 'bytes'],
      r.topTalkers.map((t) => [t.workload, t.flows, bytes(t.bytes)]),
    ),
    '## Ingest health',
    `${r.ingest.sources} inputs, ${r.ingest.records} records, ${r.ingest.malformed} malformed.\n`,
    table(
      ['kind', 'reason', 'lines'],
      r.ingest.quarantine.map((q) => [q.kind, q.reason, q.count]),
    ),
    '### Gaps in input',
    table(
      ['source', 'from', 'to'],
      r.ingest.gaps.map((g) => [g.kind, iso(g.from), iso(g.to)]),
    ),
    '## Traffic per day',
    table(
      ['day', 'flows', 'bytes', 'new endpoints', 'attributed'],
      r.charts.trafficPerDay.map((t) => [
        day(t.day),
        t.flows,
        bytes(t.bytes),
        r.charts.newEndpointsPerDay.find((n) => n.day === t.day)?.count ?? 0,
        `${(r.charts.coveragePerDay.find((c) => c.day === t.day)?.attributed ?? 0).toFixed(1)} %`,
      ]),
    ),
  ];
  return out.join('\n');
}
