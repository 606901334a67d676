import { InputError, KnownError, UsageError } from '../model/errors.js';
import type { Checkpoint, IngestCounts, QuarantineRow } from '../model/edge.js';
import type { EdgeTable, OrderedEdges } from '../model/edge-table.js';
import type { SourceStatus } from './ingest.js';

/** What the writing thread tells the reading worker it is to do. */
export interface WorkerJob {
  readonly dbPath: string;
  readonly collector: string;
  readonly parserOptions: Readonly<Record<string, string | undefined>>;
  /** Inputs; an error object does not survive the copy to a thread, so a path's failure travels as data. */
  readonly refs: readonly {
    readonly name: string;
    readonly path: string | null;
    readonly failure: ErrorData | null;
  }[];
  readonly bucketSeconds: number;
  readonly flushLines?: number;
  readonly maxEdges?: number;
  readonly maxLineBytes?: number;
}

/** A known error crosses the thread boundary as data and is rebuilt as its class on the other side. */
export interface ErrorData {
  readonly kind: 'input' | 'usage';
  readonly message: string;
  readonly code: string;
  readonly path: string | null;
}

export interface SourceResultData {
  readonly name: string;
  readonly sourceId: string | null;
  readonly status: SourceStatus;
  readonly counts: IngestCounts;
  readonly reasons: Readonly<Record<string, number>>;
  readonly error: ErrorData | null;
}

export type ToWriter =
  | {
      readonly type: 'batch';
      readonly seq: number;
      /** Ordered when the reading thread had to wait for the writer anyway. */
      readonly edges: EdgeTable | OrderedEdges;
      readonly quarantine: readonly QuarantineRow[];
      readonly checkpoints: readonly Checkpoint[];
    }
  | { readonly type: 'progress'; readonly source: string; readonly records: number }
  | { readonly type: 'done'; readonly sources: readonly SourceResultData[] }
  | { readonly type: 'failed'; readonly error: ErrorData | null; readonly stack: string };

export type ToReader =
  | {
      readonly type: 'ack';
      readonly seq: number;
      /**
       * The committed batch's buffers (its table and order), handed back: the writer allocates little else, so it
       * would seldom collect them, and a few batches' worth of dead buffers stayed in its memory. The reader drops
       * them among its own garbage, which it collects all the time.
       */
      readonly buffers: readonly ArrayBuffer[];
    }
  | { readonly type: 'abort' };

export function errorData(err: unknown): ErrorData | null {
  if (!(err instanceof KnownError)) return null;
  return {
    kind: err instanceof InputError ? 'input' : 'usage',
    message: err instanceof InputError ? err.message.slice(err.path.length + 2) : err.message,
    code: err.code,
    path: err instanceof InputError ? err.path : null,
  };
}

export function knownError(e: ErrorData | null): KnownError | null {
  if (e === null) return null;
  return e.kind === 'input'
    ? new InputError(e.path ?? '-', e.message, e.code)
    : new UsageError(e.message, e.code);
}
