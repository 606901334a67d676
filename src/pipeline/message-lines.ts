/**
 * Turns one Kafka message value into log lines. Shippers put lines on a topic in several shapes, and one
 * consumer should read all of them without being told which:
 *
 * - plain text, one line or many (`\n`-separated; Vector's `text` codec, a Firehose-style batch);
 * - gzip-compressed text, recognised by its magic bytes `1f 8b` (a CloudWatch Logs subscription delivers
 *   gzip, and batching shippers compress whole payloads);
 * - JSON envelopes around a line: Fluent Bit's kafka output (`{"@timestamp": …, "log": "<line>"}`), Vector's
 *   `json` codec (`{"message": "<line>", …}`) and CloudWatch Logs subscription records
 *   (`{"messageType": "DATA_MESSAGE", "logEvents": [{"message": "<line>"}, …]}`; `CONTROL_MESSAGE` carries none).
 *
 * A JSON object that is no envelope is the line itself: Route 53 Resolver query logs are JSON lines.
 */
import { gunzipSync } from 'node:zlib';

export const VALUE_REJECT_REASONS = ['bad_gzip', 'value_too_large', 'not_text'] as const;
export type ValueRejectReason = (typeof VALUE_REJECT_REASONS)[number];

export type ValueLines =
  | { readonly kind: 'lines'; readonly lines: readonly string[] }
  | { readonly kind: 'reject'; readonly reason: ValueRejectReason };

/** Decompressed values beyond this are refused: a gzip bomb must not take the consumer's memory. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

export type ValueBytes =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'reject'; readonly reason: ValueRejectReason };

/** The text bytes a value carries: inflated when it is gzip, refused when it is binary. */
export function bytesOfValue(value: Buffer | null): ValueBytes {
  // A tombstone (null value) carries no record.
  if (value === null) return { kind: 'bytes', bytes: Buffer.alloc(0) };
  let bytes = value;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_VALUE_BYTES });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return { kind: 'reject', reason: code === 'ERR_BUFFER_TOO_LARGE' ? 'value_too_large' : 'bad_gzip' };
    }
  }
  // NUL bytes never occur in the text formats read here: such a value is binary (another codec, Avro, …).
  if (bytes.includes(0)) return { kind: 'reject', reason: 'not_text' };
  return { kind: 'bytes', bytes };
}

export function linesOfValue(value: Buffer | null): ValueLines {
  const v = bytesOfValue(value);
  if (v.kind === 'reject') return v;
  const out: string[] = [];
  forEachLine(v.bytes, (from, to) => unwrapLine(v.bytes.toString('utf8', from, to), out));
  return { kind: 'lines', lines: out };
}

/** Calls `line` with where each line of a value is, without its line ending (LF or CRLF); blank lines are none. */
export function forEachLine(bytes: Buffer, line: (from: number, to: number) => void): void {
  for (let from = 0; from < bytes.length;) {
    let nl = bytes.indexOf(0x0a, from);
    if (nl < 0) nl = bytes.length;
    const to = nl > from && bytes[nl - 1] === 0x0d ? nl - 1 : nl;
    if (to > from) line(from, to);
    from = nl + 1;
  }
}

/**
 * Adds to `out` the lines an envelope carries, or the line itself when it is none. `line` is one line of a value,
 * without its line ending, not empty.
 */
export function unwrapLine(line: string, out: string[]): void {
  const first = line.charCodeAt(0) === 0x7b ? 0 : line.search(/\S/);
  if (first < 0 || line.charCodeAt(first) !== 0x7b /* { */) {
    out.push(line);
    return;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    out.push(line);
    return;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    out.push(line);
    return;
  }
  const o = doc as Record<string, unknown>;
  if (typeof o['log'] === 'string') {
    pushInner(o['log'], out);
  } else if (typeof o['message'] === 'string') {
    pushInner(o['message'], out);
  } else if (Array.isArray(o['logEvents'])) {
    for (const e of o['logEvents'] as unknown[]) {
      const m = (e as { message?: unknown } | null)?.message;
      if (typeof m === 'string') pushInner(m, out);
    }
  } else if (o['messageType'] === 'CONTROL_MESSAGE') {
    // CloudWatch Logs' reachability probe: no log event.
  } else {
    out.push(line);
  }
}

/** An envelope's text may itself hold several lines (a multiline record, or a trailing newline). */
function pushInner(text: string, out: string[]): void {
  for (const part of text.split('\n')) {
    const line = part.endsWith('\r') ? part.slice(0, -1) : part;
    if (line.length > 0) out.push(line);
  }
}
