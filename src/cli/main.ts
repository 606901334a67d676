#!/usr/bin/env node
import { CommanderError } from 'commander';
import { KnownError } from '../model/errors.js';
import { buildProgram } from './program.js';

/**
 * The one place that turns errors into exit codes: known errors print one line without a stack; commander's
 * own usage errors have already printed theirs; anything else is a bug and shows its stack.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const sub of program.commands) {
    sub.exitOverride();
    for (const leaf of sub.commands) leaf.exitOverride();
  }
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 1;
    }
    if (err instanceof KnownError) {
      process.stderr.write(`egress-learner: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `egress-learner: internal error (a bug, please report it):\n${(err as Error).stack ?? String(err)}\n`,
    );
    return 1;
  }
}

process.exitCode = await main(process.argv);
