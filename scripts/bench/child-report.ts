/**
 * Shared by the baseline children: one JSON line on stdout with the result and the child's own peak RSS,
 * which the bench uses when GNU time is not available.
 */
export interface ChildReport {
  /** Rows the contender produced (edges for DuckDB, inserted rows for naive SQLite). */
  rows: number;
  /** What `rows` counts, for the results table. */
  rowsLabel: string;
  [key: string]: unknown;
}

export const REPORT_PREFIX = 'BENCH_RESULT ';

export function writeReport(report: ChildReport): void {
  const maxrssKb = process.resourceUsage().maxRSS; // kilobytes on Linux
  process.stdout.write(`${REPORT_PREFIX}${JSON.stringify({ ...report, maxrss_kb: maxrssKb })}\n`);
}

export function parseReport(stdout: string): (ChildReport & { maxrss_kb?: number }) | null {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(REPORT_PREFIX));
  if (!line) return null;
  try {
    return JSON.parse(line.slice(REPORT_PREFIX.length)) as ChildReport & { maxrss_kb?: number };
  } catch {
    return null;
  }
}

/** `--name value` lookup for the tiny child CLIs (they are only ever started by the bench). */
export function argValue(argv: readonly string[], name: string): string {
  const i = argv.indexOf(name);
  const v = i >= 0 ? argv[i + 1] : undefined;
  if (v === undefined) {
    process.stderr.write(`missing ${name}\n`);
    process.exit(1);
  }
  return v;
}
