import { readFileSync, rmSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { Command, Option } from 'commander';
import { parseAwsDocument } from '../../collectors/cloud/aws-inventory.js';
import { GENERATORS, OUTPUT_KINDS, type OutputKind } from '../emit/index.js';
import { applyAccepted, type EmittedFile } from '../emit/document.js';
import { infer, type InferenceStats } from '../infer/infer.js';
import type { PublishedPrefix } from '../infer/fold-addresses.js';
import { InputError, UsageError } from '../model/errors.js';
import type { InferenceResult } from '../model/endpoint.js';
import { ReviewStore, reviewSets } from '../store/review-store.js';
import { oneOf, openForWrite, say, type GlobalOptions } from './context.js';
import { makeOutDir, writeOutFile } from './out-path.js';
import { collect, openAttributed, parseFilter, withFilterOptions } from './query.js';
import { parseDuration, parseInstant } from './time-window.js';

/** The subdirectory each kind writes (and so owns: it is emptied before a run writes it again). */
function kindDir(kind: OutputKind): string {
  return kind === 'squid' ? 'squid' : kind;
}

function intOption(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`);
  return Number(text);
}

/** Provider prefix lists in the shape of AWS ip-ranges.json, read for folding only. */
function readPrefixLists(files: readonly string[]): PublishedPrefix[] {
  const out: PublishedPrefix[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new InputError(f, (err as Error).message);
    }
    const parsed = parseAwsDocument(text);
    if (!parsed.ok || parsed.document.kind !== 'ip-ranges')
      throw new InputError(f, 'not a prefix list in the shape of ip-ranges.json (--prefixes)', 'prefixes');
    for (const p of parsed.document.items) out.push({ cidr: p.cidr, service: p.service, region: p.region });
  }
  return out;
}

/** Writes the files of one kind under `out`, after emptying the kind's own directory. */
function writeKind(out: string, kind: OutputKind, files: readonly EmittedFile[]): void {
  const root = resolve(out);
  rmSync(join(root, kindDir(kind)), { recursive: true, force: true });
  for (const f of files) {
    const target = resolve(root, f.path);
    // Paths come from generators that build them from validated names; this is the last guard.
    if (!target.startsWith(root + sep)) throw new Error(`generator produced a path outside --out: ${f.path}`);
    writeOutFile(target, f.content);
  }
}

interface ReviewOutcome {
  readonly run: number;
  readonly fresh: ReadonlySet<string>;
  readonly accepted: ReadonlySet<string>;
  readonly rejected: ReadonlySet<string>;
  readonly snoozed: ReadonlySet<string>;
}

/** Records the run's candidates and reads the decisions in force, so generators can honour them. */
function recordReview(g: GlobalOptions, result: InferenceResult, at: number, scope: string): ReviewOutcome {
  const store = openForWrite(g);
  try {
    const review = new ReviewStore(store.db);
    const { run, fresh } = review.recordRun(result.endpoints, result.settings, at, scope);
    return { run, fresh, ...reviewSets(review, at) };
  } finally {
    store.close();
  }
}

/**
 * The inference result as JSON (stable field order, sorted lists) for review tools and `audit --candidates`,
 * with each endpoint's review state and whether this run produced it for the first time.
 */
function endpointsJson(result: InferenceResult, stats: InferenceStats, review: ReviewOutcome): string {
  const state = (id: string): string =>
    review.accepted.has(id)
      ? 'accepted'
      : review.rejected.has(id)
        ? 'rejected'
        : review.snoozed.has(id)
          ? 'snoozed'
          : 'undecided';
  const endpoints = result.endpoints.map((e) => ({ ...e, review: state(e.id), new: review.fresh.has(e.id) }));
  return `${JSON.stringify({ ...result, endpoints, stats, run: review.run }, null, 2)}\n`;
}

export function suggestCommand(now: () => number): Command {
  return withFilterOptions(
    new Command('suggest').description(
      'learn the endpoints each workload uses and write candidate rules for review',
    ),
    // Endpoints are learned from accepted egress only: what was refused, or opened from outside, is not used.
    ['action', 'direction'],
  )
    .requiredOption('--out <dir>', 'directory to write the candidates into (each kind its own subdirectory)')
    .option('--kinds <list>', `output kinds (comma-separated): ${OUTPUT_KINDS.join(', ')}`, collect)
    .addOption(
      new Option('--scope <scope>', 'EgressRuleSets per namespace or per workload')
        .choices(['namespace', 'workload'])
        .default('namespace'),
    )
    .option('--max-prefix <bits>', 'widest IPv4 prefix a rotating name may fold to', '16')
    .option('--max-prefix6 <bits>', 'widest IPv6 prefix a rotating name may fold to', '28')
    .option('--allow-any', 'allow folds up to 0.0.0.0/0 and ::/0 (never without this flag)')
    .option('--wildcard-min <n>', 'distinct subdomains before names fold into *.domain (0: never)', '5')
    .option('--min-flows <n>', 'endpoints with fewer flows are listed as seen rarely, not enabled', '0')
    .option('--min-days <n>', 'endpoints seen on fewer days are listed as seen rarely, not enabled', '0')
    .option('--dns-grace <duration>', 'how long a DNS answer names an address past its TTL', '15m')
    .option(
      '--prefixes <file>',
      'provider prefix list in the shape of ip-ranges.json, for folding (repeatable)',
      collect,
    )
    .addHelpText(
      'after',
      `\nExamples:\n  egress-learner suggest --since 14d --out candidates/\n  egress-learner suggest --since 14d --kinds networkpolicy,egressruleset --scope workload --out review/\n  egress-learner suggest --since 7d --namespace payments --max-prefix 20 --wildcard-min 3 --out payments/\n\nWrites <out>/endpoints.json (every learned endpoint with its evidence) and one subdirectory per kind.`,
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const t = now();
      // Without --since the window is the last 14 days: an --until before that is refused as the window it makes,
      // not as a --since the user never gave.
      if (opts.since === undefined && opts.until !== undefined) {
        const until = parseInstant(String(opts.until), t, '--until');
        if (until < parseInstant('14d', t, '--since'))
          throw new UsageError(
            `--until ${JSON.stringify(opts.until)} is before the default window start (--since 14d): give --since`,
          );
      }
      const filter = parseFilter({ ...opts, since: opts.since ?? '14d' }, t);
      const since = filter.since!;
      const until = filter.until ?? t;
      const allowAny = opts.allowAny === true;
      const maxPrefix4 = intOption(String(opts.maxPrefix), '--max-prefix', allowAny ? 0 : 1, 32);
      const maxPrefix6 = intOption(String(opts.maxPrefix6), '--max-prefix6', allowAny ? 0 : 1, 128);
      const grace = parseDuration(String(opts.dnsGrace));
      if (grace === null)
        throw new UsageError(`--dns-grace ${JSON.stringify(opts.dnsGrace)}: expected a duration such as 15m`);
      const kinds = ((opts.kinds as string[] | undefined) ?? [...OUTPUT_KINDS]).map((k) =>
        oneOf<OutputKind>(OUTPUT_KINDS, k, '--kinds'),
      );
      const prefixes = readPrefixLists((opts.prefixes as string[] | undefined) ?? []);
      const settings = {
        since,
        until,
        maxPrefix4,
        maxPrefix6,
        allowAny,
        wildcardMin: intOption(String(opts.wildcardMin), '--wildcard-min', 0, 1_000_000),
        minFlows: intOption(String(opts.minFlows), '--min-flows', 0, Number.MAX_SAFE_INTEGER),
        minDays: intOption(String(opts.minDays), '--min-days', 0, 100_000),
        dnsGrace: grace,
      };
      const { store } = await openAttributed(g, opts, now, true);
      let result: InferenceResult;
      let stats: InferenceStats;
      try {
        ({ result, stats } = infer(store.db, { ...settings, filter, prefixes }));
      } finally {
        store.close();
      }
      const { since: _since, until: _until, ...narrowed } = filter;
      const scope = Object.values(narrowed).some((v) => v !== undefined) ? JSON.stringify(narrowed) : '';
      const review = recordReview(g, result, t, scope);
      const out = String(opts.out);
      makeOutDir(out);
      const options = {
        scope: opts.scope as 'namespace' | 'workload',
        accepted: review.accepted,
        rejected: review.rejected,
      };
      const reviewed = applyAccepted(result, review.accepted);
      let files = 0;
      for (const kind of kinds) {
        const emitted = GENERATORS[kind](reviewed, options);
        writeKind(out, kind, emitted);
        files += emitted.length;
      }
      writeOutFile(join(out, 'endpoints.json'), endpointsJson(result, stats, review));
      if (g.quiet !== true) {
        // As the generators honour review: rejected ones are left out, accepted ones enabled even if flagged or rare.
        const enabled = result.endpoints.filter(
          (e) =>
            !review.rejected.has(e.id) &&
            (review.accepted.has(e.id) || (!e.rare && e.suspicions.length === 0)),
        ).length;
        const flagged = result.endpoints.filter((e) => e.suspicions.length > 0).length;
        const rare = result.endpoints.filter((e) => e.rare).length;
        const share = stats.flows === 0 ? 0 : (100 * stats.unattributedFlows) / stats.flows;
        const rejected = result.endpoints.filter((e) => review.rejected.has(e.id)).length;
        const snoozed = result.endpoints.filter((e) => review.snoozed.has(e.id)).length;
        say(
          g,
          `suggest: ${result.senders.length} senders, ${result.endpoints.length} endpoints (${enabled} enabled, ${flagged} flagged, ${rare} rare, ` +
            `${review.fresh.size} new since the last run, ${rejected} rejected and ${snoozed} snoozed in review); ` +
            `${files} files in ${out}; ${stats.unattributedFlows} of ${stats.flows} flows (${share.toFixed(1)}%) had no sender and taught nothing\n`,
        );
      }
    });
}
