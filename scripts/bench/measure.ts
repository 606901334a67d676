/**
 * Runs one contender as a child process and measures wall time and peak RSS.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`, the kernel's ru_maxrss of the child) when it exists,
 * so every contender is measured the same way; otherwise from what the child reports itself (Node children
 * print `process.resourceUsage().maxRSS`, egress-learner prints `maxrss_kb=<n>` on stderr when
 * EGRESS_LEARNER_REPORT_RSS=1), and n/a for plain commands like zcat.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type RssSource = 'gnu-time' | 'self-reported' | 'n/a';

export interface RunSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Send the child's stdout to /dev/null instead of capturing it (zcat / cat). */
  discardStdout?: boolean;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  peakRssKb: number | null;
  rssSource: RssSource;
  stdout: string;
  stderr: string;
}

let gnuTimeCache: boolean | undefined;

/** True when /usr/bin/time is GNU time (supports -f %M and -o). */
export function hasGnuTime(): boolean {
  if (gnuTimeCache === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'egress-bench-time-'));
    try {
      const out = join(dir, 'probe');
      const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, 'true'], { stdio: 'ignore' });
      gnuTimeCache = r.status === 0 && /^\d+\s*$/.test(readFileSync(out, 'utf8'));
    } catch {
      gnuTimeCache = false;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return gnuTimeCache;
}

const MAX_CAPTURE = 1 << 20;

/** Parses a self-reported peak RSS: a JSON `maxrss_kb` field or a `maxrss_kb=<n>` line. */
export function selfReportedRssKb(stdout: string, stderr: string): number | null {
  const m =
    /"maxrss_kb":\s*(\d+)/.exec(stdout) ?? /maxrss_kb=(\d+)/.exec(stderr) ?? /maxrss_kb=(\d+)/.exec(stdout);
  return m ? Number(m[1]) : null;
}

export async function runMeasured(spec: RunSpec): Promise<RunResult> {
  const useTime = hasGnuTime();
  const dir = mkdtempSync(join(tmpdir(), 'egress-bench-time-'));
  const timeFile = join(dir, 'maxrss');
  const command = useTime ? '/usr/bin/time' : spec.command;
  const args = useTime ? ['-f', '%M', '-o', timeFile, spec.command, ...spec.args] : spec.args;
  const devNull = spec.discardStdout ? openSync('/dev/null', 'w') : null;
  let stdout = '';
  let stderr = '';
  try {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: spec.env ?? process.env,
      stdio: ['ignore', devNull ?? 'pipe', 'pipe'],
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-MAX_CAPTURE);
    });
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
      child.once('error', rej);
      child.once('close', (code, sig) => res([code, sig]));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let peakRssKb: number | null = null;
    let rssSource: RssSource = 'n/a';
    if (useTime) {
      try {
        const text = readFileSync(timeFile, 'utf8');
        // On failure GNU time writes "Command exited with non-zero status N" before the value.
        const m = /(\d+)\s*$/.exec(text);
        if (m) {
          peakRssKb = Number(m[1]);
          rssSource = 'gnu-time';
        }
      } catch {
        // fall through to self-reported
      }
    }
    if (peakRssKb === null) {
      peakRssKb = selfReportedRssKb(stdout, stderr);
      if (peakRssKb !== null) rssSource = 'self-reported';
    }
    return { exitCode, signal, seconds, peakRssKb, rssSource, stdout, stderr };
  } finally {
    if (devNull !== null) closeSync(devNull);
    rmSync(dir, { recursive: true, force: true });
  }
}
