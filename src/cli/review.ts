import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { yaml } from '../util/lazy.js';
import { destinationLabel } from '../model/endpoint.js';
import { UsageError } from '../model/errors.js';
import { REVIEW_STATES, ReviewStore, type CandidateRow, type Decision } from '../store/review-store.js';
import { openForRead, openForWrite, say, type GlobalOptions } from './context.js';
import { OUTPUT_FORMATS, parseOutputFormat, writeRows, type OutputRow } from './output.js';
import { collect } from './query.js';
import { instantInRange, isoTime, parseDuration, parseInstant } from './time-window.js';

function who(opts: Record<string, unknown>): string {
  if (typeof opts.by === 'string' && opts.by.trim() !== '') return opts.by.trim();
  try {
    return process.env.USER ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** `--until` of a snooze: a duration counted forward from now, or an RFC 3339 instant in the future. */
function snoozeUntil(text: string, now: number): number {
  const d = parseDuration(text);
  const until = d !== null ? instantInRange(now + d, text, '--until') : parseInstant(text, now, '--until');
  if (until <= now) throw new UsageError(`--until ${JSON.stringify(text)}: a snooze must end in the future`);
  return until;
}

function row(c: CandidateRow): OutputRow {
  const e = c.endpoint;
  return {
    id: c.id,
    state: c.state,
    sender: c.sender,
    target: destinationLabel(e.destination),
    port: c.port,
    protocol: c.protocol,
    via: c.via,
    confidence: e.confidence,
    flows: e.evidence.flows,
    lastSeen: isoTime(Math.round(e.evidence.lastSeen)),
    flags: e.suspicions.map((s) => s.code),
    rare: e.rare,
    decidedBy: c.decision?.by ?? null,
    reason: c.decision?.reason ?? null,
    until: c.decision?.until == null ? null : isoTime(Math.round(c.decision.until)),
  };
}

const LIST_COLUMNS = [
  'id',
  'state',
  'sender',
  'target',
  'port',
  'protocol',
  'via',
  'confidence',
  'flows',
  'flags',
];
const ALL_COLUMNS = [...LIST_COLUMNS, 'lastSeen', 'rare', 'decidedBy', 'reason', 'until'];

function decideCommand(name: Decision, what: string, now: () => number): Command {
  const cmd = new Command(name)
    .description(what)
    .argument('<id...>', 'candidate ids (or unique prefixes of 6+ hex digits), as `review list` shows them')
    .option('--reason <text>', 'why (kept with the decision)', '')
    .option('--by <name>', 'who decides (default: $USER)');
  if (name === 'snooze')
    cmd.requiredOption('--until <when>', 'until when: a duration from now (7d) or RFC 3339 time');
  return cmd
    .addHelpText(
      'after',
      `\nExample:\n  egress-learner review ${name} 3f9a1c ${name === 'snooze' ? '--until 14d ' : ''}--reason "ticket NET-42"`,
    )
    .action((ids: string[], opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const t = now();
      const until = name === 'snooze' ? snoozeUntil(String(opts.until), t) : null;
      openForRead(g).close(); // a missing database is a usage error, not a new empty one
      const store = openForWrite(g);
      try {
        const review = new ReviewStore(store.db);
        const resolved = [...new Set(ids.map((id) => review.resolve(id)))];
        review.decide(resolved, {
          decision: name,
          by: who(opts),
          at: t,
          reason: String(opts.reason ?? ''),
          until,
        });
        if (g.quiet !== true) say(g, `review: ${name} recorded for ${resolved.join(', ')}`);
      } finally {
        store.close();
      }
    });
}

export function reviewCommand(now: () => number): Command {
  const cmd = new Command('review').description('decide on candidate rules: decisions survive re-generation');
  cmd.addCommand(
    new Command('list')
      .description('candidates of the latest suggest run with their review state')
      .option('--state <state>', `only these states: ${REVIEW_STATES.join(', ')} (repeatable)`, collect)
      .option(
        '--sender <id>',
        'only this sender: namespace/Kind/name, node/<name>, instance/<id> (repeatable)',
        collect,
      )
      .option('--all', 'also candidates earlier runs produced and the latest did not')
      .addOption(
        new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'),
      )
      .addHelpText('after', '\nExample:\n  egress-learner review list --state undecided')
      .action((opts: Record<string, unknown>, self: Command) => {
        const g = self.optsWithGlobals<GlobalOptions>();
        const format = parseOutputFormat(String(opts.output));
        const states = (opts.state as string[] | undefined) ?? [];
        for (const s of states)
          if (!(REVIEW_STATES as readonly string[]).includes(s))
            throw new UsageError(`--state ${JSON.stringify(s)}: expected one of ${REVIEW_STATES.join(', ')}`);
        const senders = new Set(((opts.sender as string[] | undefined) ?? []).map((s) => s.toLowerCase()));
        const store = openForRead(g);
        try {
          const rows = new ReviewStore(store.db)
            .candidates(now(), opts.all !== true)
            .filter((c) => states.length === 0 || states.includes(c.state))
            .filter((c) => senders.size === 0 || senders.has(c.sender.toLowerCase()))
            .map(row);
          writeRows(process.stdout, rows, format === 'table' ? LIST_COLUMNS : ALL_COLUMNS, format);
        } finally {
          store.close();
        }
      }),
  );
  cmd.addCommand(
    new Command('show')
      .description('one candidate: its evidence, the rule it stands for, and every decision taken on it')
      .argument('<id>', 'candidate id or unique prefix')
      .addOption(
        new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'),
      )
      .action((id: string, opts: Record<string, unknown>, self: Command) => {
        const g = self.optsWithGlobals<GlobalOptions>();
        const store = openForRead(g);
        try {
          const review = new ReviewStore(store.db);
          const full = review.resolve(id);
          const c = review.candidates(now()).find((x) => x.id === full)!;
          const doc = {
            id: c.id,
            state: c.state,
            firstRun: c.firstRun,
            lastRun: c.lastRun,
            endpoint: c.endpoint,
            decisions: review.history(full).map((d) => ({
              decision: d.decision,
              by: d.by,
              at: isoTime(Math.round(d.at)),
              reason: d.reason,
              until: d.until === null ? null : isoTime(Math.round(d.until)),
            })),
          };
          process.stdout.write(
            opts.output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : yaml().stringify(doc),
          );
        } finally {
          store.close();
        }
      }),
  );
  cmd.addCommand(
    decideCommand('accept', 'accept candidates: kept and marked accepted in every later suggest', now),
  );
  cmd.addCommand(decideCommand('reject', 'reject candidates: left out of every later suggest', now));
  cmd.addCommand(decideCommand('snooze', 'put candidates aside until a date: not undecided until then', now));
  return cmd;
}
