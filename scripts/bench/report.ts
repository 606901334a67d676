/** Result types and the human-readable table / ratio lines for the bench. */
import type { RssSource } from './measure.js';

export type InputKind = 'plain' | 'gzip';

export interface BenchResult {
  contender: string;
  /** What was actually run, e.g. "cat" for the plain-input floor. */
  label: string;
  input: InputKind;
  file: string;
  records: number;
  inputBytes: number;
  status: 'ok' | 'failed' | 'skipped';
  seconds: number | null;
  recordsPerSec: number | null;
  peakRssMb: number | null;
  rssSource: RssSource;
  /** records/s relative to the floor (cat / zcat) on the same input. */
  vsFloor: number | null;
  /** What the contender produced (edges, rows), when it says. */
  outputRows: number | null;
  outputLabel: string | null;
  note: string | null;
  /** Wall seconds of every run when --repeat > 1 (seconds is the fastest). */
  runSeconds?: number[];
}

export interface Ratio {
  records: number;
  input: InputKind;
  name: string;
  /** a / b of records/s */
  rate: number | null;
  /** a / b of peak RSS */
  rss: number | null;
}

export function computeRatios(results: readonly BenchResult[]): Ratio[] {
  const out: Ratio[] = [];
  const find = (records: number, input: InputKind, contender: string): BenchResult | undefined =>
    results.find(
      (r) => r.records === records && r.input === input && r.contender === contender && r.status === 'ok',
    );
  const div = (a: number | null | undefined, b: number | null | undefined): number | null =>
    a != null && b != null && b > 0 ? a / b : null;
  const keys = new Set(results.map((r) => `${r.records}|${r.input}`));
  for (const key of keys) {
    const [recText, inputText] = key.split('|') as [string, InputKind];
    const records = Number(recText);
    // Each thread count against DuckDB at the same count; the faster of ours against the floor.
    for (const threads of [1, 2]) {
      const el = find(records, inputText, `el${threads}`);
      const d = find(records, inputText, `duckdb${threads}`);
      if (!el || !d) continue;
      out.push({
        records,
        input: inputText,
        name: `${el.label} vs ${d.label}`,
        rate: div(el.recordsPerSec, d.recordsPerSec),
        rss: div(el.peakRssMb, d.peakRssMb),
      });
    }
    const best = [find(records, inputText, 'el1'), find(records, inputText, 'el2')]
      .filter((r): r is BenchResult => r !== undefined)
      .sort((a, b) => (b.recordsPerSec ?? 0) - (a.recordsPerSec ?? 0))[0];
    const floor = find(records, inputText, 'zcat');
    if (best && floor) {
      out.push({
        records,
        input: inputText,
        name: `${best.label} vs ${floor.label} (floor)`,
        rate: div(best.recordsPerSec, floor.recordsPerSec),
        rss: null,
      });
    }
  }
  return out;
}

function percent(x: number): string {
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(0) : p >= 1 ? p.toFixed(1) : p.toFixed(2)}%`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function pad(cells: string[][], rightAlign: readonly boolean[]): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length))) ?? [];
  return cells
    .map((row, r) =>
      row
        .map((c, i) => {
          const w = widths[i] ?? 0;
          return r > 0 && rightAlign[i] ? c.padStart(w) : c.padEnd(w);
        })
        .join(' | ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderTable(results: readonly BenchResult[]): string {
  const header = [
    'contender',
    'input',
    'records',
    'seconds',
    'records/s',
    'peak RSS MB',
    'vs floor',
    'output / note',
  ];
  const rows = results.map((r) => [
    r.label,
    r.input,
    fmtInt(r.records),
    r.seconds != null ? r.seconds.toFixed(2) : '-',
    r.recordsPerSec != null ? fmtInt(r.recordsPerSec) : '-',
    r.peakRssMb != null ? `${r.peakRssMb.toFixed(1)}${r.rssSource === 'self-reported' ? '*' : ''}` : 'n/a',
    r.vsFloor != null ? percent(r.vsFloor) : '-',
    r.status === 'ok'
      ? r.outputRows != null
        ? `${r.outputLabel ?? 'rows'}=${fmtInt(r.outputRows)}`
        : (r.note ?? '')
      : `${r.status.toUpperCase()}: ${r.note ?? ''}`,
  ]);
  const table = pad([header, ...rows], [false, false, true, true, true, true, true, false]);
  const rule = '-'.repeat(Math.min(140, Math.max(...table.split('\n').map((l) => l.length))));
  const lines = table.split('\n');
  return [lines[0], rule, ...lines.slice(1)].join('\n');
}

export function renderRatios(ratios: readonly Ratio[]): string {
  if (ratios.length === 0) return '';
  const lines = ratios.map((r) => {
    const rate = r.rate != null ? `${r.rate.toFixed(2)}x records/s` : 'records/s n/a';
    const rss = r.rss != null ? `, ${r.rss.toFixed(2)}x peak RSS` : '';
    return `  ${fmtInt(r.records)} records, ${r.input}: ${r.name}: ${rate}${rss}`;
  });
  return ['ratios:', ...lines].join('\n');
}
