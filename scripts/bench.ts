/**
 * `npm run bench`: generate (or reuse) a realistic flow-log file, then run each contender on the plain and the
 * gzip file, one after the other, and print wall time, records/s and peak RSS side by side.
 *
 * Contenders (names for --only):
 *   el1, el2        node dist/src/cli/main.js collect vpc-flow <file> --db <tmp>/el.db --quiet --threads 1|2
 *   zcat            zcat <file.gz> > /dev/null (gzip floor); `cat` on the plain file
 *   duckdb1         DuckDB read_csv + the same hourly edge aggregation, 1 thread
 *   duckdb2         … with 2 threads
 *   naive           readline + one better-sqlite3 INSERT per record, 10k rows per transaction
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { parseReport } from './bench/child-report.js';
import { hasGnuTime, runMeasured } from './bench/measure.js';
import type { RunResult, RunSpec } from './bench/measure.js';
import { computeRatios, renderRatios, renderTable } from './bench/report.js';
import type { BenchResult, InputKind } from './bench/report.js';
import {
  DEFAULT_OUT_DIR,
  DEFAULT_RECORDS,
  DEFAULT_SEED,
  generateFlowLogs,
  parseCount,
} from './gen-flowlogs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/scripts → repository root. */
const repoRoot = resolve(here, '..', '..');

interface Contender {
  name: string;
  label(input: InputKind): string;
  inputs: readonly InputKind[];
  /** null when runnable, else why not. */
  unavailable(): string | null;
  spec(file: string, workDir: string): RunSpec;
}

function nodeChild(script: string, args: string[]): RunSpec {
  return { command: process.execPath, args: [join(here, 'bench', script), ...args] };
}

function contenders(elMain: string): Contender[] {
  return [
    ...[1, 2].map((threads): Contender => ({
      name: `el${threads}`,
      label: () => `egress-learner ${threads} thread${threads > 1 ? 's' : ''}`,
      inputs: ['plain', 'gzip'],
      unavailable: () => (existsSync(elMain) ? null : `${elMain} not built`),
      spec: (file, workDir) => {
        const db = join(workDir, 'el.db');
        return {
          command: process.execPath,
          args: [elMain, 'collect', 'vpc-flow', file, '--db', db, '--quiet', '--threads', String(threads)],
          env: { ...process.env, EGRESS_LEARNER_DB: db, EGRESS_LEARNER_REPORT_RSS: '1' },
        };
      },
    })),
    {
      name: 'zcat',
      label: (input) => (input === 'gzip' ? 'zcat' : 'cat'),
      inputs: ['plain', 'gzip'],
      unavailable: () => null,
      spec: (file) => ({ command: file.endsWith('.gz') ? 'zcat' : 'cat', args: [file], discardStdout: true }),
    },
    ...[1, 2].map((threads): Contender => ({
      name: `duckdb${threads}`,
      label: () => `duckdb ${threads} thread${threads > 1 ? 's' : ''}`,
      inputs: ['plain', 'gzip'],
      unavailable: () => null,
      spec: (file, workDir) =>
        nodeChild('duckdb-baseline.js', [
          '--file',
          file,
          '--threads',
          String(threads),
          '--db',
          join(workDir, 'duck.db'),
        ]),
    })),
    {
      name: 'naive',
      label: () => 'naive sqlite',
      inputs: ['plain', 'gzip'],
      unavailable: () => null,
      spec: (file, workDir) =>
        nodeChild('naive-sqlite.js', ['--file', file, '--db', join(workDir, 'naive.db')]),
    },
  ];
}

const liveTempDirs = new Set<string>();
function cleanupTempDirs(): void {
  for (const d of liveTempDirs) rmSync(d, { recursive: true, force: true });
  liveTempDirs.clear();
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' / ').slice(0, 300);
}

function toResult(
  c: Contender,
  input: InputKind,
  file: string,
  records: number,
  run: RunResult | null,
  skipped: string | null,
): BenchResult {
  const base: BenchResult = {
    contender: c.name,
    label: c.label(input),
    input,
    file,
    records,
    inputBytes: statSync(file).size,
    status: 'skipped',
    seconds: null,
    recordsPerSec: null,
    peakRssMb: null,
    rssSource: 'n/a',
    vsFloor: null,
    outputRows: null,
    outputLabel: null,
    note: skipped,
  };
  if (!run) return base;
  const ok = run.exitCode === 0;
  const report = parseReport(run.stdout);
  return {
    ...base,
    status: ok ? 'ok' : 'failed',
    seconds: run.seconds,
    recordsPerSec: ok ? records / run.seconds : null,
    peakRssMb: run.peakRssKb != null ? run.peakRssKb / 1024 : null,
    rssSource: run.rssSource,
    outputRows: report?.rows ?? null,
    outputLabel: report?.rowsLabel ?? null,
    note: ok
      ? null
      : `exit ${run.exitCode ?? run.signal ?? '?'}${run.stderr.trim() ? `: ${lastLines(run.stderr, 2)}` : ''}`,
  };
}

/** Best of several runs: the fastest wall time, the highest peak RSS; a failed run wins outright. */
function combineRuns(runs: readonly RunResult[]): RunResult {
  const failed = runs.find((r) => r.exitCode !== 0);
  if (failed) return failed;
  const fastest = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const rss = runs.map((r) => r.peakRssKb).filter((x): x is number => x !== null);
  return { ...fastest, peakRssKb: rss.length > 0 ? Math.max(...rss) : null };
}

interface BenchOptions {
  records: string;
  out: string;
  seed: string;
  only?: string;
  inputs: string;
  json: boolean;
  el: string;
  repeat: string;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('bench')
    .description('Compare egress-learner ingest with zcat, DuckDB and a naive SQLite loader on flow logs.')
    .option(
      '--records <n[,n…]>',
      'records per file; a list runs each size (e.g. 2M,20M)',
      String(DEFAULT_RECORDS),
    )
    .option('--out <dir>', 'where generated flow logs live', DEFAULT_OUT_DIR)
    .option('--seed <n>', 'generator seed', String(DEFAULT_SEED))
    .option('--only <names>', 'comma list of contenders: el1, el2 (el: both), zcat, duckdb1, duckdb2, naive')
    .option('--inputs <kinds>', 'comma list of inputs: plain, gzip', 'plain,gzip')
    .option('--repeat <n>', 'runs per contender and input; the fastest counts', '1')
    .option('--json', 'print machine-readable results on stdout', false)
    .option('--el <path>', 'egress-learner CLI entry point', join(repoRoot, 'dist', 'src', 'cli', 'main.js'))
    .addHelpText(
      'after',
      '\nExamples:\n  npm run bench\n  node dist/scripts/bench.js --records 2M,20M --only el,duckdb --json',
    );
  program.parse(argv);
  const o = program.opts<BenchOptions>();
  const log = (m: string): void => void process.stderr.write(`${m}\n`);

  const repeat = Number(o.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    log('bench: --repeat must be a positive integer');
    return 1;
  }
  const sizes = o.records.split(',').map((s) => parseCount(s));
  const all = contenders(resolve(o.el));
  const aliases: Record<string, string[]> = {
    el: ['el1', 'el2'],
    'egress-learner': ['el1', 'el2'],
    cat: ['zcat'],
    duckdb: ['duckdb1', 'duckdb2'],
    sqlite: ['naive'],
  };
  const wanted = o.only
    ? o.only.split(',').flatMap((s) => aliases[s.trim()] ?? [s.trim()])
    : all.map((c) => c.name);
  const unknown = wanted.filter((w) => !all.some((c) => c.name === w));
  if (unknown.length > 0) {
    log(`bench: unknown contender(s): ${unknown.join(', ')} (known: ${all.map((c) => c.name).join(', ')})`);
    return 1;
  }
  const inputs = o.inputs.split(',').map((s) => s.trim());
  if (inputs.some((i) => i !== 'plain' && i !== 'gzip')) {
    log(`bench: --inputs takes plain and/or gzip`);
    return 1;
  }
  const selected = all.filter((c) => wanted.includes(c.name));
  if (!hasGnuTime()) log('bench: /usr/bin/time not found; peak RSS is self-reported (*) or n/a');

  const loadBefore = loadavg();
  const generation: Array<{
    records: number;
    generated: boolean;
    seconds: number;
    plain: string;
    gzip: string;
  }> = [];
  const results: BenchResult[] = [];
  for (const records of sizes) {
    const gen = await generateFlowLogs({ records, outDir: o.out, seed: Number(o.seed), log });
    generation.push({
      records,
      generated: gen.generated,
      seconds: gen.seconds,
      plain: gen.plainPath,
      gzip: gen.gzipPath,
    });
    for (const input of inputs as InputKind[]) {
      const file = input === 'gzip' ? gen.gzipPath : gen.plainPath;
      // Warm the page cache so the first contender does not pay for the disk.
      await runMeasured({ command: 'cat', args: [file], discardStdout: true });
      for (const c of selected) {
        if (!c.inputs.includes(input)) continue;
        const reason = c.unavailable();
        if (reason) {
          results.push(toResult(c, input, file, records, null, reason));
          continue;
        }
        const workDir = mkdtempSync(join(tmpdir(), `egress-bench-${c.name}-`));
        liveTempDirs.add(workDir);
        log(`running ${c.label(input)} on ${input} (${records} records)…`);
        try {
          const runs: RunResult[] = [];
          for (let i = 0; i < repeat; i++) {
            rmSync(workDir, { recursive: true, force: true });
            mkdirSync(workDir, { recursive: true });
            const run = await runMeasured(c.spec(file, workDir));
            runs.push(run);
            if (run.exitCode !== 0) break;
          }
          const r = toResult(c, input, file, records, combineRuns(runs), null);
          r.runSeconds = runs.map((x) => x.seconds);
          results.push(r);
          log(
            r.status === 'ok'
              ? `  ${r.seconds?.toFixed(2)} s, ${Math.round(r.recordsPerSec ?? 0)} records/s, ` +
                  `peak RSS ${r.peakRssMb != null ? `${r.peakRssMb.toFixed(1)} MB` : 'n/a'}`
              : `  ${r.status}: ${r.note ?? ''}`,
          );
        } finally {
          rmSync(workDir, { recursive: true, force: true });
          liveTempDirs.delete(workDir);
        }
      }
    }
  }

  for (const r of results) {
    const floor = results.find(
      (f) => f.contender === 'zcat' && f.status === 'ok' && f.records === r.records && f.input === r.input,
    );
    if (floor?.recordsPerSec && r.recordsPerSec != null) r.vsFloor = r.recordsPerSec / floor.recordsPerSec;
  }
  const ratios = computeRatios(results);

  if (o.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          node: process.version,
          cpus: cpus().length,
          loadavg: { before: loadBefore, after: loadavg() },
          gnuTime: hasGnuTime(),
          repeat,
          generation,
          results,
          ratios,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const out: string[] = [];
    for (const g of generation) {
      out.push(
        g.generated
          ? `generated ${g.records.toLocaleString('en-US')} records in ${g.seconds.toFixed(1)} s → ${g.plain}{,.gz}`
          : `reused ${g.plain}{,.gz}`,
      );
    }
    const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
    out.push(
      `node ${process.version}, ${cpus().length} CPUs, load average ${load(loadBefore)} before / ` +
        `${load(loadavg())} after${repeat > 1 ? `, best of ${repeat} runs` : ''}`,
    );
    out.push('', renderTable(results));
    const r = renderRatios(ratios);
    if (r) out.push('', r);
    out.push(
      '',
      `peak RSS: ${hasGnuTime() ? 'GNU time %M (max resident set of the child)' : '* = self-reported by the child'}; ` +
        'vs floor = records/s relative to cat (plain) / zcat (gzip).',
    );
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

process.on('exit', cleanupTempDirs);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanupTempDirs();
    process.exit(130);
  });
}

main(process.argv)
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
