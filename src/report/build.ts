/**
 * The nightly report's content, gathered once and rendered three ways (markdown, HTML, JSON). It reads what the
 * night's `suggest` recorded (candidates, runs, decisions) and the observations of the window; it never infers.
 */
import type Database from 'better-sqlite3';
import { destinationLabel, type Endpoint } from '../model/endpoint.js';
import { queryCoverage, queryWorkloadTraffic, type CoverageRow } from '../store/attribution-query.js';
import {
  inputGaps,
  quarantinePerReason,
  runDiff,
  trafficPerDay,
  type DayTraffic,
  type InputGap,
} from '../store/report-query.js';
import { ReviewStore, type CandidateRow, type ReviewState } from '../store/review-store.js';
import { listSources } from '../store/source-query.js';

export interface ReportOptions {
  readonly since: number;
  readonly until: number;
  /** Start of the charts' time axis (they show a longer stretch than the report's window). */
  readonly chartSince: number;
  readonly now: number;
  /** Endpoints not seen for this many days are candidates for removal. */
  readonly staleDays: number;
  readonly bucketSeconds: number;
  /** False when the database has no inventory: coverage is then all "none" and the cache is not read. */
  readonly attribution: boolean;
  readonly topN: number;
}

/** One candidate as the report lists it. */
export interface ReportCandidate {
  readonly id: string;
  readonly sender: string;
  readonly target: string;
  readonly port: number;
  readonly protocol: string;
  readonly via: string;
  readonly state: ReviewState;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly flows: number;
  readonly bytes: number;
  readonly confidence: number;
  readonly flags: readonly string[];
}

/** Traffic the current policies would deny, as `audit` found it (supplied by the caller, optional). */
export interface DeniedTraffic {
  readonly sender: string;
  readonly target: string;
  readonly port: number;
  readonly protocol: string;
  readonly flows: number;
  readonly reason: string;
}

export interface ReportData {
  readonly window: { readonly since: number; readonly until: number };
  readonly generatedAt: number;
  readonly runs: { readonly current: number | null; readonly previous: number | null };
  readonly newEndpoints: readonly ReportCandidate[];
  readonly staleEndpoints: readonly ReportCandidate[];
  readonly ruleChanges: {
    readonly added: readonly ReportCandidate[];
    readonly removed: readonly ReportCandidate[];
    readonly changed: readonly ReportCandidate[];
  };
  readonly undecided: readonly ReportCandidate[];
  readonly flagged: readonly ReportCandidate[];
  readonly denied: readonly DeniedTraffic[] | null;
  readonly coverage: readonly CoverageRow[];
  readonly topTalkers: readonly {
    readonly workload: string;
    readonly flows: number;
    readonly bytes: number;
  }[];
  readonly ingest: {
    readonly sources: number;
    readonly records: number;
    readonly malformed: number;
    readonly quarantine: readonly {
      readonly kind: string;
      readonly reason: string;
      readonly count: number;
    }[];
    readonly gaps: readonly InputGap[];
  };
  readonly charts: {
    readonly trafficPerDay: readonly DayTraffic[];
    readonly newEndpointsPerDay: readonly { readonly day: number; readonly count: number }[];
    readonly coveragePerDay: readonly { readonly day: number; readonly attributed: number }[];
  };
}

function present(c: CandidateRow): ReportCandidate {
  const e: Endpoint = c.endpoint;
  return {
    id: c.id,
    sender: c.sender,
    target: destinationLabel(e.destination),
    port: c.port,
    protocol: c.protocol,
    via: c.via,
    state: c.state,
    firstSeen: c.firstSeen,
    lastSeen: e.evidence.lastSeen,
    flows: e.evidence.flows,
    bytes: e.evidence.bytes,
    confidence: e.confidence,
    flags: e.suspicions.map((s) => s.code),
  };
}

const DAY = 86_400;

export function buildReport(
  db: Database.Database,
  opts: ReportOptions,
  denied: readonly DeniedTraffic[] | null = null,
): ReportData {
  const review = new ReviewStore(db);
  const runs = review.wholeRuns();
  const current = runs.at(-1)?.run ?? null;
  const previous = runs.at(-2)?.run ?? null;
  const all = review.candidates(opts.now);
  const byId = new Map(all.map((c) => [c.id, c]));
  const members = current === null ? new Set<string>() : review.runMembers(current);
  const latest = all.filter((c) => members.has(c.id));
  const diff = current === null ? { added: [], removed: [], changed: [] } : runDiff(db, previous, current);
  const pick = (ids: readonly string[]): ReportCandidate[] =>
    ids.flatMap((id) => (byId.has(id) ? [present(byId.get(id)!)] : []));

  const newEndpoints = latest
    .filter((c) => c.firstSeen >= opts.since)
    .map(present)
    .sort(
      (a, b) => a.sender.localeCompare(b.sender) || a.firstSeen - b.firstSeen || a.id.localeCompare(b.id),
    );
  const stale = latest
    .filter((c) => c.endpoint.evidence.lastSeen < opts.until - opts.staleDays * DAY)
    .map(present)
    .sort((a, b) => a.lastSeen - b.lastSeen || a.id.localeCompare(b.id));

  const filter = { since: opts.since, until: opts.until, direction: 'egress' as const };
  const coverage = queryCoverage(db, filter, opts.attribution).filter((r) => r.scope !== 'node');
  const talkers = opts.attribution
    ? queryWorkloadTraffic(db, filter)
        .map((w) => ({ workload: `${w.namespace}/${w.kind}/${w.name}`, flows: w.flows, bytes: w.bytes }))
        .sort((a, b) => b.bytes - a.bytes || a.workload.localeCompare(b.workload))
        .slice(0, opts.topN)
    : [];

  const sources = listSources(db).filter(
    (s) => s.lastTime === null || (s.lastTime >= opts.since && (s.firstTime ?? 0) <= opts.until),
  );
  const perDay = new Map<number, number>();
  for (const c of all) {
    const day = Math.floor(c.firstSeen / DAY) * DAY;
    if (day >= Math.floor(opts.chartSince / DAY) * DAY && day <= opts.until)
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
  }
  const coveragePerDay: { day: number; attributed: number }[] = [];
  const daily = trafficPerDay(db, opts.chartSince, opts.until);
  for (const t of daily) {
    const row = queryCoverage(db, { ...filter, since: t.day, until: t.day + DAY - 1 }, opts.attribution).find(
      (r) => r.scope === 'all',
    );
    const total = row?.total.flows ?? 0;
    coveragePerDay.push({
      day: t.day,
      attributed: total === 0 ? 0 : (row!.outcomes.workload.flows / total) * 100,
    });
  }

  return {
    window: { since: opts.since, until: opts.until },
    generatedAt: opts.now,
    runs: { current, previous },
    newEndpoints,
    staleEndpoints: stale,
    ruleChanges: { added: pick(diff.added), removed: pick(diff.removed), changed: pick(diff.changed) },
    undecided: latest.filter((c) => c.state === 'undecided').map(present),
    flagged: latest.filter((c) => c.endpoint.suspicions.length > 0).map(present),
    denied,
    coverage,
    topTalkers: talkers,
    ingest: {
      sources: sources.length,
      records: sources.reduce((n, s) => n + s.counts.records, 0),
      malformed: sources.reduce((n, s) => n + s.counts.malformed, 0),
      quarantine: quarantinePerReason(db),
      gaps: inputGaps(db, opts.since, opts.until, opts.bucketSeconds),
    },
    charts: {
      trafficPerDay: daily,
      newEndpointsPerDay: [...perDay.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([day, count]) => ({ day, count })),
      coveragePerDay,
    },
  };
}
