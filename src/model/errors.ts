/**
 * Errors the CLI knows how to report in one line. Anything else reaching the top level is a bug and is
 * printed with its stack.
 */
export abstract class KnownError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
}

/** The user asked for something that cannot be done as asked (bad flag, bad value). Exit 1. */
export class UsageError extends KnownError {
  readonly code: string;
  readonly exitCode = 1;
  constructor(message: string, code = 'usage') {
    super(message);
    this.name = 'UsageError';
    this.code = code;
  }
}

/** Another collector committed to the same source meanwhile; this run stops reading it (exit 1). */
export class ConcurrentIngestError extends UsageError {
  constructor(name: string) {
    super(
      `${name}: another collect is reading this input into the same database; left to it`,
      'concurrent_ingest',
    );
    this.name = 'ConcurrentIngestError';
  }
}

/** An input could not be read (missing, unreadable, truncated gzip, binary data). Exit 2. */
export class InputError extends KnownError {
  readonly code: string;
  readonly exitCode = 2;
  readonly path: string;
  constructor(path: string, message: string, code = 'input') {
    super(`${path}: ${message}`);
    this.name = 'InputError';
    this.path = path;
    this.code = code;
  }
}
