import { stringify as yamlStringify } from 'yaml';
import { UsageError } from '../model/errors.js';

export const OUTPUT_FORMATS = ['table', 'json', 'csv', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(text: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(text)) return text as OutputFormat;
  throw new UsageError(`-o ${JSON.stringify(text)}: expected one of ${OUTPUT_FORMATS.join(', ')}`);
}

export type Cell = string | number | boolean | null | readonly string[];
export type OutputRow = Readonly<Record<string, Cell>>;

/**
 * Renders rows with a fixed column order. JSON and YAML keep the documented field names and types (null for
 * absent values); the table is for people; CSV quotes per RFC 4180.
 */
export function render(rows: readonly OutputRow[], columns: readonly string[], format: OutputFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(
        rows.map((r) => pick(r, columns)),
        null,
        2,
      )}\n`;
    case 'yaml':
      return rows.length === 0 ? '[]\n' : yamlStringify(rows.map((r) => pick(r, columns)));
    case 'csv':
      return [columns.join(','), ...rows.map((r) => columns.map((c) => csvCell(r[c] ?? null)).join(','))]
        .map((l) => `${l}\n`)
        .join('');
    case 'table':
      return table(rows, columns);
  }
}

function pick(r: OutputRow, columns: readonly string[]): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  for (const c of columns) out[c] = r[c] ?? null;
  return out;
}

function text(v: Cell): string {
  if (v === null) return '-';
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

function csvCell(v: Cell): string {
  const s = v === null ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function table(rows: readonly OutputRow[], columns: readonly string[]): string {
  const header = columns.map((c) => c.toUpperCase());
  const cells = rows.map((r) => columns.map((c) => text(r[c] ?? null)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const numeric = columns.map(
    (c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number' || r[c] === null),
  );
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].map((l) => `${l}\n`).join('');
}
