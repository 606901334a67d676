import { Command, Option } from 'commander';
import { COLLECTORS } from '../../collectors/index.js';
import { ingestParallel } from '../ingest/parallel.js';
import type { CollectorDescriptor } from '../model/collector.js';
import { awsInventoryCommand } from './collect-aws.js';
import { collectDnsCommand } from './collect-dns.js';
import { collectKafkaCommand } from './collect-kafka.js';
import { k8sCommand } from './collect-k8s.js';
import { runCollect } from './collect-run.js';
import { positiveInt, type GlobalOptions } from './context.js';

/** `collect <format>`: one subcommand per collector descriptor, with its own options and sample line. */
export function collectCommand(): Command {
  const cmd = new Command('collect').description(
    'read logs into the database (aggregated edges, not raw lines)',
  );
  for (const c of COLLECTORS) cmd.addCommand(formatCommand(c));
  cmd.addCommand(k8sCommand());
  cmd.addCommand(collectDnsCommand());
  cmd.addCommand(awsInventoryCommand());
  cmd.addCommand(collectKafkaCommand());
  return cmd;
}

function formatCommand(c: CollectorDescriptor): Command {
  const cmd = new Command(c.name)
    .description(c.description)
    .argument('<paths...>', 'files, .gz files, directory trees (S3 export layout) or - for stdin')
    .option('--bucket <duration>', 'time bucket of stored edges, fixed per database (e.g. 1h, 15m)')
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    // Tuning knobs for tests and benchmarks; ingest has the defaults.
    .addOption(new Option('--flush-lines <n>', 'lines per commit').hideHelp())
    .addOption(new Option('--max-edges <n>', 'distinct edges held before a commit').hideHelp())
    .addOption(
      new Option(
        '--threads <n>',
        'threads: 2 reads and parses beside the database writer; 1 does both in one (default: 2 when there are 2 cores and an input holds 64 MB of text or more)',
      ),
    )
    .addHelpText(
      'after',
      `\nSample line:\n  ${c.sample}\n\nExamples:\n  egress-learner collect ${c.name} access.log\n  zcat *.gz | egress-learner collect ${c.name} -`,
    );
  for (const o of c.options) cmd.option(o.flags, o.description, o.defaultValue);
  cmd.action(async (paths: string[], opts: Record<string, string | undefined>, self: Command) => {
    const g = self.optsWithGlobals<GlobalOptions>();
    const parserOptions: Record<string, string | undefined> = {};
    for (const o of c.options) {
      const key = o.flags
        .replace(/^--?/, '')
        .split(/[ ,<[]/)[0]!
        .replace(/-([a-z])/g, (_m, ch: string) => ch.toUpperCase());
      parserOptions[key] = opts[key];
    }
    // Build the parser once up front so a bad format option fails before any input is touched.
    c.createParser(parserOptions, null);
    const flushLines =
      opts.flushLines === undefined ? undefined : positiveInt(opts.flushLines, '--flush-lines');
    const maxEdges = opts.maxEdges === undefined ? undefined : positiveInt(opts.maxEdges, '--max-edges');
    const threads = opts.threads === undefined ? undefined : positiveInt(opts.threads, '--threads');
    await runCollect(
      g,
      paths,
      { name: c.name, output: opts.output, bucket: opts.bucket },
      (store, refs, hooks) =>
        ingestParallel(store, refs, {
          collectorName: c.name,
          threads,
          collector: c,
          parserOptions,
          flushLines,
          maxEdges,
          ...hooks,
        }),
    );
  });
  return cmd;
}
