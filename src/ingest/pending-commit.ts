import { IngestCounts, ReasonCounts, type Checkpoint, type QuarantineRow } from '../model/edge.js';
import { KnownError } from '../model/errors.js';
import type { SourceState } from '../store/store.js';
import type { EdgeAggregator } from './aggregate.js';
import type { BatchSink, RecordPath, SourceResult } from './ingest.js';

/** When a commit is due, whatever the inputs: lines, edges and quarantined lines held, and time since the first. */
export interface CommitLimits {
  readonly flushLines: number;
  readonly maxEdges: number;
  readonly maxQuarantine: number;
  readonly flushMs: number;
}

/** Inputs whose last checkpoints one commit may carry: enough for a day of S3 export files, few enough to list. */
const MAX_INPUTS_PER_COMMIT = 10_000;

type Result = { -readonly [K in keyof SourceResult]: SourceResult[K] };

/**
 * The commit being gathered, shared by every input of a run. An S3 export tree holds thousands of small files, and
 * a commit each rewrote the same B-tree pages thousands of times: 2,000 files of 1,000 flow records took 11 s, the
 * same records in one file 1.6 s. So an input read to its end leaves its last checkpoint here, its edges in the
 * shared aggregator, and the next input goes on; the commit is written once it holds a commit's worth (lines, edges,
 * quarantined lines, time), before a large input's own commits, and at the end of the run. Each checkpoint names its
 * input, so one transaction carries all of them, and a crash before it leaves every one of those inputs unread.
 */
export class PendingCommit {
  #checkpoints: Checkpoint[] = [];
  #quarantine: QuarantineRow[] = [];
  #lines = 0;
  #since = 0;
  /** Inputs read to their end whose last checkpoint waits here; a copy of one read later in the run is another. */
  #finished: {
    readonly result: Result;
    readonly delta: IngestCounts;
    readonly reasons: Readonly<Record<string, number>>;
  }[] = [];
  /** The state each input held here will be stored with (the latest, for a copy read twice), by source id. */
  #states = new Map<string, SourceState>();
  readonly #sink: BatchSink;
  readonly #agg: EdgeAggregator;
  readonly #records: RecordPath | undefined;
  readonly #limits: CommitLimits;

  constructor(sink: BatchSink, agg: EdgeAggregator, records: RecordPath | undefined, limits: CommitLimits) {
    this.#sink = sink;
    this.#agg = agg;
    this.#records = records;
    this.#limits = limits;
  }

  /** One input's checkpoint, the quarantined lines it covers and how many lines it read since its last one. */
  add(checkpoint: Checkpoint, quarantine: readonly QuarantineRow[], lines: number): void {
    if (this.#checkpoints.length === 0) this.#since = performance.now();
    this.#checkpoints.push(checkpoint);
    for (const q of quarantine) this.#quarantine.push(q);
    this.#lines += lines;
  }

  /**
   * True when lines, quarantined lines and time since `since` (an input's own, since its last checkpoint), or the
   * edges held, make a commit's worth: the input then commits before it reads on.
   */
  isCommitsWorth(lines: number, quarantined: number, since: number): boolean {
    const l = this.#limits;
    return (
      lines >= l.flushLines ||
      this.#agg.size + (this.#records?.size ?? 0) >= l.maxEdges ||
      quarantined >= l.maxQuarantine ||
      performance.now() - since >= l.flushMs
    );
  }

  /** True while what is held is less than a commit's worth: a finished input may leave it for the next one. */
  get canWait(): boolean {
    return (
      this.#checkpoints.length < MAX_INPUTS_PER_COMMIT &&
      !this.isCommitsWorth(this.#lines, this.#quarantine.length, this.#since)
    );
  }

  /**
   * An input that left its last checkpoint here: its state as the commit will store it (a copy of the input later in
   * the run must find it read), its result (failed if the commit is refused) and the counts the commit holds of it,
   * with their skip and reject reasons.
   */
  hold(
    state: SourceState,
    result: SourceResult,
    delta: IngestCounts,
    reasons: Readonly<Record<string, number>>,
  ): void {
    this.#finished.push({ result: result as Result, delta, reasons });
    this.#states.set(state.sourceId, state);
  }

  /** The stored state an input will have once this commit is written, if the commit holds it. */
  stateOf(sourceId: string): SourceState | null {
    return this.#states.get(sourceId) ?? null;
  }

  /**
   * Writes everything held in one commit. A commit that fails (refused because another collector moved one of its
   * inputs, or a database that cannot be written) fails the inputs that finished in it, takes their counts and
   * reasons back out of their results, and is thrown on.
   */
  async write(): Promise<void> {
    if (this.#checkpoints.length === 0) return;
    const checkpoints = this.#checkpoints;
    const quarantine = this.#quarantine;
    const finished = this.#finished;
    this.#checkpoints = [];
    this.#quarantine = [];
    this.#lines = 0;
    this.#finished = [];
    this.#states = new Map();
    const records = this.#records;
    try {
      await this.#sink.write({
        edges: this.#agg.drainTable(),
        quarantine,
        checkpoints,
        extra: records !== undefined ? () => records.flush() : undefined,
      });
    } catch (err) {
      // Nothing of it was stored: answers summed beside the edges must not ride on the next commit either.
      records?.discard();
      if (err instanceof KnownError) {
        for (const { result, delta, reasons } of finished) {
          result.status = 'failed';
          result.error = err;
          IngestCounts.subtract(result.counts, delta);
          ReasonCounts.subtract(result.reasons as Record<string, number>, reasons);
        }
      }
      throw err;
    }
  }
}
