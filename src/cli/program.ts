import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { LOG_FORMATS, LOG_LEVELS } from '../util/log.js';
import { auditCommand } from './audit.js';
import { collectCommand } from './collect.js';
import { demoCommand } from './demo.js';
import { queryCommand } from './query.js';
import { reportCommand } from './report.js';
import { reviewCommand } from './review.js';
import { suggestCommand } from './suggest.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The whole command tree. `now` is injectable so relative time windows are testable. */
export function buildProgram(now: () => number = () => Date.now() / 1000): Command {
  const program = new Command('egress-learner')
    .description('learn the egress endpoints workloads really use, and propose egress rules for review')
    .version(version(), '--version')
    .option('--db <file>', 'database file (default: $EGRESS_LEARNER_DB, else ./egress-learner.db)')
    .option('-q, --quiet', 'no progress or summary on stderr')
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--log-format <format>', 'log line format on stderr').choices(LOG_FORMATS).default('text'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  egress-learner demo
  egress-learner collect vpc-flow AWSLogs/ --db flows.db
  egress-learner query flows --db flows.db --since 24h --group-by src,dst,port --top 20

Exit codes: 0 success, 1 usage or user error, 2 an input could not be read, 3 audit found traffic that would be denied.`,
    );
  program.addCommand(collectCommand());
  program.addCommand(queryCommand(now));
  program.addCommand(suggestCommand(now));
  program.addCommand(reviewCommand(now));
  program.addCommand(reportCommand(now));
  program.addCommand(demoCommand());
  program.addCommand(auditCommand(now));
  return program;
}
