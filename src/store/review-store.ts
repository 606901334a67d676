/**
 * Candidates, `suggest` runs and review decisions (migration 0005). A candidate's id is its endpoint fingerprint,
 * so a decision taken on Monday applies to the same rule regenerated on Friday.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Endpoint } from '../model/endpoint.js';
import { destinationLabel } from '../model/endpoint.js';
import { UsageError } from '../model/errors.js';
import { writeTransaction } from './write-transaction.js';

export const DECISIONS = ['accept', 'reject', 'snooze'] as const;
export type Decision = (typeof DECISIONS)[number];

/** Where a candidate stands now: a snooze that ran out is undecided again. */
export const REVIEW_STATES = ['undecided', 'accepted', 'rejected', 'snoozed'] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

export interface DecisionRecord {
  readonly id: string;
  readonly decision: Decision;
  readonly by: string;
  readonly at: number;
  readonly reason: string;
  readonly until: number | null;
}

export interface CandidateRow {
  readonly id: string;
  readonly sender: string;
  readonly target: string;
  readonly port: number;
  readonly protocol: string;
  readonly via: string;
  readonly firstRun: number;
  readonly lastRun: number;
  /** The earliest first sighting over every run's window (the endpoint's evidence only covers the latest). */
  readonly firstSeen: number;
  readonly state: ReviewState;
  readonly decision: DecisionRecord | null;
  readonly endpoint: Endpoint;
}

export interface SuggestRun {
  readonly run: number;
  readonly at: number;
  readonly since: number;
  readonly until: number;
  readonly candidates: number;
  /** The filters the run was narrowed by, as JSON; '' for a run over the whole window. */
  readonly scope: string;
}

/**
 * The run `review list` and the report speak of: the latest over the whole window, else (only narrowed runs so
 * far) the latest.
 */
const LATEST_RUN = `COALESCE((SELECT MAX(run) FROM suggest_runs WHERE scope = ''), (SELECT MAX(run) FROM suggest_runs))`;

/** What makes two versions of a candidate the same rule: where it points, how wide, and whether it is flagged. */
function ruleHash(e: Endpoint): string {
  const d = e.destination;
  const shape = d.kind === 'peer' ? d.selector : d.cidrs.map((c) => c.cidr);
  return createHash('sha256')
    .update(JSON.stringify([shape, e.rare, e.suspicions.map((x) => x.code)]))
    .digest('hex')
    .slice(0, 16);
}

function stateOf(d: DecisionRecord | null, now: number): ReviewState {
  if (d === null) return 'undecided';
  if (d.decision === 'accept') return 'accepted';
  if (d.decision === 'reject') return 'rejected';
  return d.until !== null && d.until > now ? 'snoozed' : 'undecided';
}

interface DecisionRow {
  id: string;
  decision: Decision;
  by: string;
  at: number;
  reason: string;
  until: number | null;
}

export class ReviewStore {
  constructor(readonly db: Database.Database) {}

  /**
   * Records one `suggest` run and its candidates (new ones get this run as their first). Returns the run number
   * and the ids never suggested before.
   */
  recordRun(
    endpoints: readonly Endpoint[],
    window: { since: number; until: number },
    at: number,
    scope = '',
  ): {
    run: number;
    fresh: Set<string>;
  } {
    // New means not produced by any run over the whole window: a narrowed run is a look, not a baseline.
    const known = this.db
      .prepare(
        `SELECT 1 FROM candidate_runs c JOIN suggest_runs r ON r.run = c.run WHERE c.id = ? AND r.scope = ''`,
      )
      .pluck();
    const member = this.db.prepare('INSERT INTO candidate_runs (run, id, rule_hash) VALUES (?, ?, ?)');
    // A narrowed run (a short window, one workload) adds candidates it found, to be reviewable, but leaves the
    // evidence a whole run stored alone.
    const upsert = this.db.prepare(`
      INSERT INTO candidates (id, sender, target, port, protocol, via, endpoint, first_run, last_run, first_seen)
      VALUES (@id, @sender, @target, @port, @protocol, @via, @endpoint, @run, @run, @firstSeen)
      ON CONFLICT (id) DO ${
        scope !== ''
          ? 'NOTHING'
          : `UPDATE SET
        endpoint = excluded.endpoint,
        last_run = excluded.last_run,
        first_seen = MIN(COALESCE(first_seen, excluded.first_seen), excluded.first_seen)`
      }`);
    return writeTransaction(this.db, () => {
      const run = Number(
        this.db
          .prepare('INSERT INTO suggest_runs (at, since, until, candidates, scope) VALUES (?, ?, ?, ?, ?)')
          .run(at, window.since, window.until, endpoints.length, scope).lastInsertRowid,
      );
      const fresh = new Set<string>();
      for (const e of endpoints) {
        if (known.get(e.id) === undefined) fresh.add(e.id);
        member.run(run, e.id, ruleHash(e));
        upsert.run({
          id: e.id,
          sender: e.sender,
          target: destinationLabel(e.destination),
          port: e.port,
          protocol: e.protocol,
          via: e.via,
          endpoint: JSON.stringify(e),
          run,
          firstSeen: e.evidence.firstSeen,
        });
      }
      return { run, fresh };
    })();
  }

  runs(): SuggestRun[] {
    return this.db
      .prepare('SELECT run, at, since, until, candidates, scope FROM suggest_runs ORDER BY run')
      .all() as SuggestRun[];
  }

  /**
   * The runs over the whole window, oldest first, or every run when none was (see LATEST_RUN): a run narrowed to a
   * few workloads would read as every other rule removed.
   */
  wholeRuns(): SuggestRun[] {
    const every = this.runs();
    const whole = every.filter((r) => r.scope === '');
    return whole.length > 0 ? whole : every;
  }

  /** The ids of the candidates run `run` produced. */
  runMembers(run: number): Set<string> {
    return new Set(
      this.db.prepare('SELECT id FROM candidate_runs WHERE run = ? ORDER BY id').pluck().all(run) as string[],
    );
  }

  /** The decision in force per candidate id (the latest taken). */
  decisions(): Map<string, DecisionRecord> {
    const rows = this.db
      .prepare(
        `SELECT id, decision, by, at, reason, until FROM review_decisions d
         WHERE seq = (SELECT MAX(seq) FROM review_decisions WHERE id = d.id) ORDER BY id`,
      )
      .all() as DecisionRow[];
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Every decision ever taken on `id`, oldest first. */
  history(id: string): DecisionRecord[] {
    return this.db
      .prepare('SELECT id, decision, by, at, reason, until FROM review_decisions WHERE id = ? ORDER BY seq')
      .all(id) as DecisionRow[];
  }

  /**
   * Candidates (optionally only those of the latest whole run, see LATEST_RUN) with their review state, ordered by
   * sender and target.
   */
  candidates(now: number, latestOnly = false): CandidateRow[] {
    const decisions = this.decisions();
    const where = latestOnly ? `WHERE id IN (SELECT id FROM candidate_runs WHERE run = ${LATEST_RUN})` : '';
    const rows = this.db
      .prepare(
        `SELECT id, sender, target, port, protocol, via, endpoint, first_run AS firstRun, last_run AS lastRun,
                first_seen AS firstSeen
         FROM candidates ${where} ORDER BY sender, target, port, protocol, via, id`,
      )
      .all() as (Omit<CandidateRow, 'state' | 'decision' | 'endpoint'> & { endpoint: string })[];
    return rows.map((r) => {
      const d = decisions.get(r.id) ?? null;
      return { ...r, endpoint: JSON.parse(r.endpoint) as Endpoint, decision: d, state: stateOf(d, now) };
    });
  }

  /**
   * The full id of a candidate from an id or a unique prefix of at least 6 characters; a usage error when none or
   * several match.
   */
  resolve(idOrPrefix: string): string {
    const text = idOrPrefix.toLowerCase();
    if (!/^[0-9a-f]{6,16}$/.test(text))
      throw new UsageError(`candidate ${JSON.stringify(idOrPrefix)}: expected an id (6 to 16 hex digits)`);
    const hits = this.db
      .prepare("SELECT id FROM candidates WHERE id >= ? AND id < ? || 'g' ORDER BY id LIMIT 2")
      .pluck()
      .all(text, text) as string[];
    if (hits.length === 0)
      throw new UsageError(`no candidate ${text} (run 'egress-learner suggest' first)`, 'no_candidate');
    if (hits.length > 1)
      throw new UsageError(`candidate id ${text} is ambiguous: give more digits`, 'ambiguous');
    return hits[0]!;
  }

  /** Appends a decision for each id (already resolved), all in one transaction. */
  decide(ids: readonly string[], d: Omit<DecisionRecord, 'id'>): void {
    const insert = this.db.prepare(
      'INSERT INTO review_decisions (id, decision, by, at, reason, until) VALUES (?, ?, ?, ?, ?, ?)',
    );
    writeTransaction(this.db, () => {
      for (const id of ids) insert.run(id, d.decision, d.by, d.at, d.reason, d.until);
    })();
  }
}

/** State of each candidate id for generators: accepted and rejected sets as of `now`. */
export function reviewSets(
  store: ReviewStore,
  now: number,
): { accepted: Set<string>; rejected: Set<string>; snoozed: Set<string> } {
  const accepted = new Set<string>();
  const rejected = new Set<string>();
  const snoozed = new Set<string>();
  for (const [id, d] of store.decisions()) {
    const s = stateOf(d, now);
    if (s === 'accepted') accepted.add(id);
    else if (s === 'rejected') rejected.add(id);
    else if (s === 'snoozed') snoozed.add(id);
  }
  return { accepted, rejected, snoozed };
}
