#!/usr/bin/env node
import { CommanderError } from 'commander';
import { KnownError } from '../model/errors.js';
import { knownSqliteError } from '../store/store.js';
import { dbPath, say, type GlobalOptions } from './context.js';
import { buildProgram } from './program.js';

/**
 * The one place that turns errors into exit codes: known errors print one line without a stack; commander's
 * own usage errors have already printed theirs; anything else is a bug and shows its stack.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  // commander's own usage errors follow --log-format too (its parse has read the option by then).
  const output = {
    outputError(text: string, write: (s: string) => void): void {
      const g = program.opts<GlobalOptions>();
      if (g.logFormat === 'json') say(g, text, 'error');
      else write(text);
    },
  };
  for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    cmd.exitOverride();
    cmd.configureOutput(output);
  }
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 1;
    }
    if (isEpipe(err)) return 0; // see the stdout handler below
    const g = program.opts<GlobalOptions>();
    // A locked, read-only or full database is the user's to fix, wherever in a command SQLite reports it.
    const known = knownSqliteError(err, g.db ?? dbPath(g));
    if (known instanceof KnownError) {
      say(g, `egress-learner: ${known.message}`, 'error');
      return known.exitCode;
    }
    const stack = (err as Error).stack ?? String(err);
    // A stack is one message: as JSON it stays one line.
    if (g.logFormat === 'json')
      say(g, `egress-learner: internal error (a bug, please report it): ${JSON.stringify(stack)}`, 'error');
    else say(g, `egress-learner: internal error (a bug, please report it):\n${stack}`, 'error');
    return 1;
  }
}

/** True for the error a write gets once the reading end of stdout's pipe has closed (`… | head`). */
function isEpipe(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'EPIPE';
}

// `query flows | head -2`: the reader has what it wanted and closed the pipe. Like `cat`, stop quietly; exit 0
// rather than 141 (128 + SIGPIPE) because Node has no real SIGPIPE death to report, and a non-zero status would
// fail `set -o pipefail` scripts for a reader that stopped on purpose. Nothing is lost: the output is only read.
process.stdout.on('error', (err) => {
  if (isEpipe(err)) process.exit(0);
  throw err;
});
// Messages on stderr whose reader went away (`collect … 2>&1 | grep -q …` after its match) are lost, but the command
// is not: it goes on and ends with its own exit code. Unhandled, the error event killed it with status 1, mid-run.
process.stderr.on('error', (err) => {
  if (!isEpipe(err)) throw err;
});

process.exitCode = await main(process.argv);
