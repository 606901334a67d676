import { Command, Option } from 'commander';
import { parseCidr } from '../model/cidr.js';
import { UsageError } from '../model/errors.js';
import { ACTIONS, DIRECTIONS, PROTOCOL, SOURCE_KINDS, type SourceKind } from '../model/observation.js';
import {
  GROUP_FIELDS,
  queryFlows,
  SORT_KEYS,
  type FlowFilter,
  type FlowRow,
  type GroupField,
} from '../store/flow-query.js';
import { queryQuarantine } from '../store/quarantine-query.js';
import { listSources } from '../store/source-query.js';
import { oneOf, openForRead, type GlobalOptions } from './context.js';
import { OUTPUT_FORMATS, parseOutputFormat, render, type OutputRow } from './output.js';
import { isoTime, parseInstant } from './time-window.js';

const PROTOCOL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PROTOCOL).map(([k, v]) => [v, k]),
);

const collect = (v: string, prev: string[] = []): string[] =>
  prev.concat(v.split(',').filter((x) => x !== ''));

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');
}

export function queryCommand(now: () => number): Command {
  const cmd = new Command('query').description('ask the database about what was observed');
  cmd.addCommand(flowsCommand(now));
  cmd.addCommand(quarantineCommand());
  cmd.addCommand(sourcesCommand());
  return cmd;
}

function flowsCommand(now: () => number): Command {
  return new Command('flows')
    .description('list or summarize observed edges')
    .option('--src <addr|cidr>', 'source address or CIDR (repeatable, comma-separated)', collect)
    .option(
      '--dst <addr|cidr|host>',
      'destination address, CIDR, host name or *.suffix (repeatable)',
      collect,
    )
    .option('--port <n>', 'destination port (repeatable)', collect)
    .option('--protocol <name|n>', 'tcp, udp, icmp, icmpv6 or an IANA number (repeatable)', collect)
    .addOption(new Option('--action <action>', 'accept or reject').choices(ACTIONS))
    .addOption(
      new Option(
        '--direction <dir>',
        'egress: the observed side opened it; ingress: the remote side did',
      ).choices(DIRECTIONS),
    )
    .option('--source-kind <kind>', `which input saw it: ${SOURCE_KINDS.join(', ')} (repeatable)`, collect)
    .option('--since <when>', 'duration back from now (90m, 36h, 14d) or RFC 3339 time')
    .option('--until <when>', 'duration back from now or RFC 3339 time')
    .option('--group-by <fields>', `sum over these fields: ${GROUP_FIELDS.join(', ')}`)
    .addOption(new Option('--sort <key>', 'order of rows').choices(SORT_KEYS).default('bytes'))
    .option('--top <n>', 'only the first n rows')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `\nExamples:\n  egress-learner query flows --since 24h --dst '*.amazonaws.com' --group-by src,host,port --top 20\n  egress-learner query flows --src 10.0.0.0/16 --direction egress --action reject -o json`,
    )
    .action((opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const filter = parseFilter(opts, now());
      const groupBy = parseGroupBy(opts.groupBy as string | undefined);
      const limit = parsePositiveInt(opts.top as string | undefined, '--top');
      const format = parseOutputFormat(opts.output as string);
      const store = openForRead(g);
      try {
        const rows: OutputRow[] = [];
        for (const r of queryFlows(store.db, { filter, groupBy, sort: opts.sort as never, limit }))
          rows.push(presentFlow(r));
        const columns =
          groupBy === null
            ? ['bucket', ...FLOW_KEY_COLUMNS, ...METRIC_COLUMNS]
            : [...groupBy.map((f) => FIELD_COLUMN[f]), ...METRIC_COLUMNS];
        process.stdout.write(render(rows, format === 'table' ? tableColumns(columns) : columns, format));
      } finally {
        store.close();
      }
    });
}

const FLOW_KEY_COLUMNS = ['src', 'dst', 'host', 'port', 'protocol', 'action', 'direction'];
const METRIC_COLUMNS = [
  'flows',
  'replies',
  'packetsOut',
  'bytesOut',
  'packetsIn',
  'bytesIn',
  'firstSeen',
  'lastSeen',
  'sources',
];
const FIELD_COLUMN: Record<GroupField, string> = {
  src: 'src',
  dst: 'dst',
  host: 'host',
  port: 'port',
  protocol: 'protocol',
  action: 'action',
  direction: 'direction',
  hour: 'hour',
  day: 'day',
};

/** The table leaves out the reply count and packet counters to fit a terminal; JSON and CSV keep all. */
function tableColumns(columns: string[]): string[] {
  return columns.filter((c) => c !== 'replies' && c !== 'packetsOut' && c !== 'packetsIn');
}

function presentFlow(r: FlowRow): OutputRow {
  const out: Record<string, OutputRow[string]> = {};
  if (r.bucket !== undefined) out.bucket = isoTime(r.bucket);
  if (r.hour !== undefined) out.hour = isoTime(r.hour);
  if (r.day !== undefined) out.day = isoTime(r.day).slice(0, 10);
  if (r.src !== undefined) out.src = r.src || null;
  if (r.dst !== undefined) out.dst = r.dst || null;
  if (r.host !== undefined) out.host = r.host || null;
  if (r.port !== undefined) out.port = r.port;
  if (r.protocol !== undefined) out.protocol = PROTOCOL_NAMES[r.protocol] ?? String(r.protocol);
  if (r.action !== undefined) out.action = r.action;
  if (r.direction !== undefined) out.direction = r.direction;
  out.flows = r.flows ?? 0;
  out.replies = r.replies ?? 0;
  out.packetsOut = r.packetsOut ?? 0;
  out.bytesOut = r.bytesOut ?? 0;
  out.packetsIn = r.packetsIn ?? 0;
  out.bytesIn = r.bytesIn ?? 0;
  out.firstSeen = r.firstSeen === null ? null : isoTime(r.firstSeen);
  out.lastSeen = r.lastSeen === null ? null : isoTime(r.lastSeen);
  out.sources = SOURCE_KINDS.filter((_k, i) => (Number(r.sources ?? 0) & (1 << i)) !== 0);
  return out;
}

export function parseFilter(opts: Record<string, unknown>, now: number): FlowFilter {
  const list = (k: string): string[] | undefined => opts[k] as string[] | undefined;
  const src = list('src');
  for (const s of src ?? []) {
    if (parseCidr(s) === null)
      throw new UsageError(`--src ${JSON.stringify(s)}: expected an IP address or CIDR`);
  }
  const port = list('port')?.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n > 65535) throw new UsageError(`--port ${JSON.stringify(p)}: expected 0-65535`);
    return n;
  });
  const protocol = list('protocol')?.map((p) => {
    const named = (PROTOCOL as Record<string, number>)[p.toLowerCase()];
    if (named !== undefined) return named;
    if (/^\d+$/.test(p) && Number(p) <= 255) return Number(p);
    throw new UsageError(`--protocol ${JSON.stringify(p)}: expected tcp, udp, icmp, icmpv6 or 0-255`);
  });
  const sourceKind = list('sourceKind')?.map((k) => oneOf<SourceKind>(SOURCE_KINDS, k, '--source-kind'));
  const since = opts.since === undefined ? undefined : parseInstant(String(opts.since), now, '--since');
  const until = opts.until === undefined ? undefined : parseInstant(String(opts.until), now, '--until');
  if (since !== undefined && until !== undefined && since > until)
    throw new UsageError('--since is after --until');
  return {
    src,
    dst: list('dst'),
    port,
    protocol,
    action: opts.action as FlowFilter['action'],
    direction: opts.direction as FlowFilter['direction'],
    sourceKind,
    since,
    until,
  };
}

function parseGroupBy(text: string | undefined): GroupField[] | null {
  if (text === undefined) return null;
  const fields = text.split(',').filter((f) => f !== '');
  const out: GroupField[] = [];
  for (const f of fields) {
    const g = oneOf<GroupField>(GROUP_FIELDS, f, '--group-by');
    if (!out.includes(g)) out.push(g);
  }
  return out;
}

function parsePositiveInt(text: string | undefined, flag: string): number | null {
  if (text === undefined) return null;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a positive integer`);
  return Number(text);
}

function quarantineCommand(): Command {
  return new Command('quarantine')
    .description('list malformed input lines with their file, line number and reason')
    .option('--reason <reason>', 'only this reason')
    .option('--source <path>', 'only lines from this input (as it was named when collected)')
    .option('--top <n>', 'only the first n lines')
    .addOption(outputOption())
    .addHelpText('after', `\nExample:\n  egress-learner query quarantine --reason bad_port -o json`)
    .action((opts: Record<string, string | undefined>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const format = parseOutputFormat(opts.output!);
      const limit = parsePositiveInt(opts.top, '--top');
      const store = openForRead(g);
      try {
        const rows: OutputRow[] = [];
        for (const q of queryQuarantine(store.db, { reason: opts.reason, source: opts.source, limit })) {
          rows.push({ source: q.source, line: q.line, kind: q.kind, reason: q.reason, raw: q.raw });
        }
        process.stdout.write(render(rows, ['source', 'line', 'kind', 'reason', 'raw'], format));
      } finally {
        store.close();
      }
    });
}

function sourcesCommand(): Command {
  return new Command('sources')
    .alias('ingest-status')
    .description('list every input read so far, with its checkpoint and counters')
    .addOption(outputOption())
    .action((opts: Record<string, string>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const format = parseOutputFormat(opts.output!);
      const store = openForRead(g);
      try {
        const rows: OutputRow[] = listSources(store.db).map((s) => ({
          name: s.name,
          kind: s.kind,
          sourceId: s.sourceId,
          done: s.done,
          line: s.lineNo,
          records: s.counts.records,
          stored: s.counts.stored,
          skipped: s.counts.skipped,
          malformed: s.counts.malformed,
          firstTime: s.firstTime === null ? null : isoTime(s.firstTime),
          lastTime: s.lastTime === null ? null : isoTime(s.lastTime),
          updatedAt: isoTime(Math.round(s.updatedAt)),
        }));
        const cols = [
          'name',
          'kind',
          'done',
          'line',
          'records',
          'stored',
          'skipped',
          'malformed',
          'firstTime',
          'lastTime',
        ];
        process.stdout.write(
          render(rows, format === 'table' ? cols : [...cols, 'sourceId', 'updatedAt'], format),
        );
      } finally {
        store.close();
      }
    });
}
