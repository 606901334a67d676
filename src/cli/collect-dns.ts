import { Command, Option } from 'commander';
import { DNS_COLLECTORS, dnsCollectorNamed } from '../../collectors/dns/index.js';
import { ingestDns } from '../ingest/dns-ingest.js';
import { DNS_SOURCE_KINDS, HOST_FILTER } from '../model/dns.js';
import { UsageError } from '../model/errors.js';
import { DnsStore } from '../store/dns-store.js';
import { runCollect } from './collect-run.js';
import { openForRead, positiveInt, say, type GlobalOptions } from './context.js';
import { parseOutputFormat, render, type OutputRow } from './output.js';
import { isoTime, parseWindow } from './time-window.js';

interface CollectDnsOptions {
  readonly format: string;
  readonly year?: string;
  readonly tz?: string;
  readonly bucket?: string;
  readonly output: string;
  readonly flushLines: string;
}

/** `collect dns --format route53|coredns|dnsmasq <paths…|->`: resolver logs into `dns_answers`. */
export function collectDnsCommand(): Command {
  const samples = DNS_COLLECTORS.map((c) => `  ${c.name}: ${c.sample}`).join('\n');
  return new Command('dns')
    .description(
      'read DNS logs (Route 53 Resolver, CoreDNS, dnsmasq) into the database as aggregated answers',
    )
    .argument('<paths...>', 'files, .gz files, directory trees or - for stdin')
    .addOption(
      new Option('--format <format>', 'log format').choices([...DNS_SOURCE_KINDS]).makeOptionMandatory(),
    )
    .option(
      '--year <yyyy>',
      'dnsmasq: year of the first line (default: from the file mtime, or now for stdin)',
    )
    .option(
      '--tz <zone>',
      "dnsmasq: time zone of the host that wrote the log, IANA (Europe/Berlin) or a UTC offset (+05:30) (default: this machine's, $TZ)",
    )
    .option('--bucket <duration>', 'time bucket of stored rows, fixed per database (e.g. 1h, 15m)')
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addOption(new Option('--flush-lines <n>', 'lines per commit').default('1000000').hideHelp())
    .addHelpText(
      'after',
      `\nSample lines:\n${samples}\n\nExamples:\n  egress-learner collect dns --format dnsmasq --tz Europe/Berlin /var/log/dnsmasq.log\n  kubectl logs -n kube-system -l k8s-app=kube-dns --timestamps | egress-learner collect dns --format coredns -\n  egress-learner collect dns --format coredns /var/log/containers/coredns-*.log   # CRI or Docker json-file`,
    )
    .action(async (paths: string[], opts: CollectDnsOptions, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const descriptor = dnsCollectorNamed(opts.format)!;
      const parserOptions = { year: opts.year, tz: opts.tz };
      // Build a parser once up front so a bad --year or --tz fails before any input is touched.
      descriptor.createParser(parserOptions, null);
      const flushLines = positiveInt(opts.flushLines, '--flush-lines');
      await runCollect(
        g,
        paths,
        { name: `dns ${descriptor.name}`, output: opts.output, bucket: opts.bucket },
        (store, refs, hooks) =>
          ingestDns(store, refs, {
            descriptor,
            parserOptions,
            flushLines,
            onWarning: (message) => say(g, `egress-learner: warning: ${message}`, 'warn'),
            ...hooks,
          }),
      );
    });
}

const DNS_COLUMNS = [
  'name',
  'client',
  'type',
  'answer',
  'rcode',
  'count',
  'firstSeen',
  'lastSeen',
  'minTtl',
  'sources',
] as const;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `query dns [--name N|*.suffix] [--answer ip|cidr] [--client ip] -o table|json|csv`: stored answers summed
 * over time buckets. JSON fields: name, client (null unknown), type, answer (null none), rcode, count,
 * firstSeen, lastSeen (RFC 3339), minTtl (null unknown), sources.
 */
export function queryDnsCommand(now: () => number = () => Date.now() / 1000): Command {
  return new Command('dns')
    .description('DNS answers: which names resolved to which addresses, for which clients')
    .option('--name <name>', 'a name or *.suffix (repeatable)', collect)
    .option('--answer <ip|cidr>', 'answers in this address or CIDR (repeatable)', collect)
    .option('--client <ip|cidr>', 'asking client address or CIDR (repeatable)', collect)
    .option('--since <when>', 'duration back from now (14d) or RFC 3339 time')
    .option('--until <when>', 'duration back from now or RFC 3339 time')
    .option('-o, --output <format>', 'table, json, csv or yaml', 'table')
    .addHelpText(
      'after',
      '\nExample:\n  egress-learner query dns --name "*.example.com" --answer 192.0.2.0/24 -o json',
    )
    .action((opts: Record<string, string | string[] | undefined>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const format = parseOutputFormat(opts['output'] as string);
      const t = now();
      for (const n of (opts['name'] as string[] | undefined) ?? []) {
        if (!HOST_FILTER.test(n))
          throw new UsageError(`--name ${JSON.stringify(n)}: expected a host name or *.suffix`);
      }
      const { since, until } = parseWindow(opts, t);
      const store = openForRead(g);
      try {
        const dns = new DnsStore(store);
        const rows: OutputRow[] = [];
        for (const r of dns.answers({
          name: opts['name'] as string[] | undefined,
          answer: opts['answer'] as string[] | undefined,
          client: opts['client'] as string[] | undefined,
          since,
          until,
        })) {
          rows.push({
            name: r.name,
            client: r.client === '' ? null : r.client,
            type: r.type,
            answer: r.answer === '' ? null : r.answer,
            rcode: r.rcode,
            count: r.count,
            firstSeen: isoTime(r.firstSeen),
            lastSeen: isoTime(r.lastSeen),
            minTtl: r.minTtl,
            sources: r.sources,
          });
        }
        process.stdout.write(render(rows, DNS_COLUMNS, format));
      } finally {
        store.close();
      }
    });
}
