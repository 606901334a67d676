import { yaml } from '../util/lazy.js';
import { UsageError } from '../model/errors.js';

export const OUTPUT_FORMATS = ['table', 'json', 'csv', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(text: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(text)) return text as OutputFormat;
  throw new UsageError(`-o ${JSON.stringify(text)}: expected one of ${OUTPUT_FORMATS.join(', ')}`);
}

export type Cell = string | number | boolean | null | readonly string[];
export type OutputRow = Readonly<Record<string, Cell>>;

/** Where rendered output goes: `process.stdout`, or a string collector. */
export interface Sink {
  write(chunk: string): unknown;
  /** Set by a stream once it failed (EPIPE: the reader went away); rendering stops early then. */
  readonly destroyed?: boolean;
}

/** Bytes gathered before one write to the sink: few system calls, bounded memory. */
const CHUNK = 64 * 1024;

/**
 * Renders rows with a fixed column order. JSON and YAML keep the documented field names and types (null for
 * absent values); the table is for people; CSV quotes per RFC 4180.
 */
export function render(rows: Iterable<OutputRow>, columns: readonly string[], format: OutputFormat): string {
  let out = '';
  writeRows({ write: (c: string) => (out += c) }, rows, columns, format);
  return out;
}

/**
 * Renders rows straight to `sink` as they come: JSON, CSV and YAML one row at a time (the same bytes as
 * {@link render}); the table must see every row for its widths, so it collects them first.
 */
export function writeRows(
  sink: Sink,
  rows: Iterable<OutputRow>,
  columns: readonly string[],
  format: OutputFormat,
): void {
  let buf = '';
  /** Appends; false once the sink has failed, so callers stop producing. */
  const emit = (text: string): boolean => {
    buf += text;
    if (buf.length >= CHUNK) {
      sink.write(buf);
      buf = '';
    }
    return sink.destroyed !== true;
  };
  switch (format) {
    case 'json': {
      // Exactly JSON.stringify(rows, null, 2) + '\n', one element at a time.
      let first = true;
      for (const r of rows) {
        const item = JSON.stringify(pick(r, columns), null, 2).replace(/\n/g, '\n  ');
        if (!emit(`${first ? '[\n' : ',\n'}  ${item}`)) return;
        first = false;
      }
      emit(first ? '[]\n' : '\n]\n');
      break;
    }
    case 'yaml': {
      let any = false;
      for (const r of rows) {
        any = true;
        if (!emit(yaml().stringify([pick(r, columns)]))) return;
      }
      if (!any) emit('[]\n');
      break;
    }
    case 'csv':
      emit(`${columns.join(',')}\n`);
      for (const r of rows) {
        if (!emit(`${columns.map((c) => csvCell(r[c] ?? null)).join(',')}\n`)) return;
      }
      break;
    case 'table':
      table(rows, columns, emit);
      break;
  }
  if (buf !== '') sink.write(buf);
}

function pick(r: OutputRow, columns: readonly string[]): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  for (const c of columns) out[c] = r[c] ?? null;
  return out;
}

function text(v: Cell): string {
  if (v === null) return '-';
  if (Array.isArray(v)) return visible(v.join(','));
  return typeof v === 'string' ? visible(v) : String(v);
}

// Control characters are what this looks for.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A table goes to a terminal, and its cells hold what log lines said (a quarantined line, a host name): an escape
 * sequence in one could retitle or clear the terminal, and a tab would break the columns. Shown as `\xNN`.
 */
function visible(s: string): string {
  return s.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function csvCell(v: Cell): string {
  const s = v === null ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function table(rows: Iterable<OutputRow>, columns: readonly string[], emit: (text: string) => boolean): void {
  const header = columns.map((c) => c.toUpperCase());
  const widths = header.map((h) => h.length);
  const numeric = columns.map(() => true);
  const cells: string[][] = [];
  // Loops, not Math.max(...spread): spreading a column's cells overflows the call stack past ~100k rows.
  for (const r of rows) {
    const row = columns.map((c, i) => {
      const v = r[c] ?? null;
      if (typeof v !== 'number' && v !== null) numeric[i] = false;
      const t = text(v);
      if (t.length > widths[i]!) widths[i] = t.length;
      return t;
    });
    cells.push(row);
  }
  if (cells.length === 0) numeric.fill(false);
  const line = (vals: string[]): string =>
    `${vals
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()}\n`;
  if (!emit(line(header))) return;
  for (const row of cells) if (!emit(line(row))) return;
}
