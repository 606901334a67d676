import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { yaml } from '../util/lazy.js';
import {
  attributionStale,
  attributionUsesCache,
  refreshAttribution,
  shadowAttributionCache,
} from '../identity/refresh-attribution.js';
import { UNATTRIBUTED } from '../identity/attribution.js';
import { parseAddressFilter, type Cidr } from '../model/cidr.js';
import { KnownError, UsageError } from '../model/errors.js';
import { HOST_FILTER } from '../model/dns.js';
import { ACTIONS, DIRECTIONS, PROTOCOL, SOURCE_KINDS, type SourceKind } from '../model/observation.js';
import { workloadId } from '../model/workload.js';
import {
  COVERAGE_OUTCOMES,
  queryCandidateTraffic,
  queryCoverage,
  queryWorkloadTraffic,
  type WorkloadTraffic,
} from '../store/attribution-query.js';
import {
  ATTRIBUTION_FIELDS,
  GROUP_FIELDS,
  queryFlows,
  SORT_KEYS,
  type FlowFilter,
  type FlowRow,
  type GroupField,
  type SortKey,
  usesAttribution,
} from '../store/flow-query.js';
import { InventoryStore } from '../store/inventory-store.js';
import type { Store } from '../store/store.js';
import { importAwsFiles } from './collect-aws.js';
import { queryDnsCommand } from './collect-dns.js';
import {
  quarantineCountsByReason,
  quarantineSourceNamed,
  queryQuarantine,
} from '../store/quarantine-query.js';
import { listKafkaPartitions } from '../store/kafka-offsets.js';
import { listSources } from '../store/source-query.js';
import { dbPath, oneOf, openForRead, openForWrite, positiveInt, say, type GlobalOptions } from './context.js';
import { OUTPUT_FORMATS, parseOutputFormat, render, writeRows, type OutputRow } from './output.js';
import { isoTime as isoTimeUnguarded, parseWindow } from './time-window.js';

/** Last second of year 9999. */
const MAX_TIME = 253402300799;

/**
 * RFC 3339 text of a stored time, or null for a time outside years 1970..9999 (a corrupt or absurd value must not
 * take the whole listing down with a RangeError).
 */
function isoTime(t: number): string | null {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_TIME) return null;
  try {
    return isoTimeUnguarded(t);
  } catch {
    return null;
  }
}

const PROTOCOL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PROTOCOL).map(([k, v]) => [v, k]),
);

/**
 * A repeatable, comma-separated option. An empty value is refused rather than dropped: `--namespace "$NS"` with
 * NS unset must not quietly widen the query to every namespace.
 */
export const collect = (v: string, prev: string[] = []): string[] => {
  const items = v.split(',');
  if (items.some((x) => x.trim() === '')) throw new InvalidArgumentError('empty value');
  return prev.concat(items);
};
/** Repeatable without comma splitting (a label value may not hold a comma, but the message should say so). */
const collectOne = (v: string, prev: string[] = []): string[] => {
  if (v.trim() === '') throw new InvalidArgumentError('empty value');
  return prev.concat(v);
};

/** A Kubernetes namespace name (a DNS label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Kubernetes label syntax: optional DNS-subdomain prefix and `/`, then a name of up to 63 characters. */
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');
}

export function queryCommand(now: () => number): Command {
  const cmd = new Command('query').description('ask the database about what was observed');
  cmd.addCommand(flowsCommand(now));
  cmd.addCommand(workloadsCommand(now));
  cmd.addCommand(coverageCommand(now));
  cmd.addCommand(quarantineCommand());
  cmd.addCommand(sourcesCommand());
  cmd.addCommand(queryDnsCommand(now));
  return cmd;
}

/** The options every command that reads observations takes. */
export function withFilterOptions(cmd: Command, without: readonly ('action' | 'direction')[] = []): Command {
  cmd
    .option('--src <addr|cidr>', 'source address or CIDR (repeatable, comma-separated)', collect)
    .option(
      '--dst <addr|cidr|host>',
      'destination address, CIDR, host name or *.suffix (repeatable)',
      collect,
    )
    .option('--port <n>', 'destination port (repeatable)', collect)
    .option('--protocol <name|n>', 'tcp, udp, icmp, icmpv6 or an IANA number (repeatable)', collect);
  // A command that fixes these itself does not offer them: an option it would ignore is worse than none.
  if (!without.includes('action'))
    cmd.addOption(new Option('--action <action>', 'accept or reject').choices(ACTIONS));
  if (!without.includes('direction'))
    cmd.addOption(
      new Option(
        '--direction <dir>',
        'egress: the observed side opened it; ingress: the remote side did',
      ).choices(DIRECTIONS),
    );
  return cmd
    .option('--source-kind <kind>', `which input saw it: ${SOURCE_KINDS.join(', ')} (repeatable)`, collect)
    .option('--since <when>', 'duration back from now (90m, 36h, 14d) or RFC 3339 time')
    .option('--until <when>', 'duration back from now or RFC 3339 time')
    .option('--namespace <ns>', "source workload's namespace (repeatable)", collect)
    .option(
      '--workload <id>',
      'source workload: namespace/Kind/name, node/<name>, instance/<id> or unattributed (repeatable)',
      collect,
    )
    .option('--label <k=v>', 'a label the source pod carried (repeatable; all must match)', collectOne)
    .option('--vpc-cidr <cidr>', 'VPC-internal block for destination classes (repeatable)', collect)
    .option('--ip-ranges <file>', 'AWS ip-ranges.json: store it, then classify AWS service destinations');
}

function flowsCommand(now: () => number): Command {
  return withFilterOptions(new Command('flows').description('list or summarize observed edges, by workload'))
    .option('--group-by <fields>', `sum over these fields: ${GROUP_FIELDS.join(', ')}`)
    .addOption(new Option('--sort <key>', 'order of rows').choices(SORT_KEYS).default('bytes'))
    .option('--top <n>', 'only the first n rows')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `\nExamples:\n  egress-learner query flows --since 24h --dst '*.amazonaws.com' --group-by src,host,port --top 20\n  egress-learner query flows --src 10.0.0.0/16 --direction egress --action reject -o json\n  egress-learner query flows --group-by workload -o json\n  egress-learner query flows --namespace payments --label app=checkout --group-by workload,dst-class`,
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const filter = parseFilter(opts, now());
      const vpcCidrs = parseVpcCidrs(opts);
      const groupBy = parseGroupBy(opts.groupBy as string | undefined);
      const limit = parsePositiveInt(opts.top as string | undefined, '--top');
      const format = parseOutputFormat(opts.output as string);
      // The listing shows each edge's workload and destination class; a grouping only what it names.
      const needed =
        groupBy === null || groupBy.some((f) => ATTRIBUTION_FIELDS.has(f)) || usesAttribution(filter);
      const { store, cache } = await openAttributed(g, opts, now, needed);
      try {
        refuseFinerThanBuckets(groupBy, store.bucketSeconds());
        const q = {
          filter,
          groupBy,
          sort: opts.sort as SortKey,
          limit,
          attribution: true,
          vpcCidrs,
          attributionCache: cache,
        };
        const attributed = groupBy !== null && groupBy.some((f) => ATTRIBUTION_FIELDS.has(f));
        const columns =
          groupBy === null
            ? [
                'bucket',
                'src',
                'workload',
                'srcKind',
                'dst',
                'dstClass',
                'dstName',
                ...FLOW_KEY_COLUMNS.slice(2),
                ...METRIC_COLUMNS,
              ]
            : [
                ...groupBy.map((f) => FIELD_COLUMN[f]),
                ...(attributed ? ['flows', 'packets', 'bytes', ...METRIC_COLUMNS.slice(1)] : METRIC_COLUMNS),
              ];
        // Streamed: rows go out as SQLite yields them (JSON, CSV, YAML), never all held as text.
        const rows = (function* (): Generator<OutputRow> {
          for (const r of queryFlows(store.db, q)) yield presentFlow(r);
        })();
        writeRows(process.stdout, rows, format === 'table' ? tableColumns(columns) : columns, format);
      } finally {
        store.close();
      }
    });
}

/** An open database for a query that reads attribution, and whether the cache answers it. */
export interface Attributed {
  readonly store: Store;
  /** False when the database holds no inventory: attribution comes from the addresses alone, no cache. */
  readonly cache: boolean;
}

/**
 * Opens the database for a query that reads attribution: it must exist; `--ip-ranges` is stored first; then the
 * attribution cache is brought up to date. A database without any inventory skips the cache entirely (its answer
 * depends on the addresses alone), as does a query that reads no attribution (`needed` false); an up-to-date cache is read as is. The database is opened for writing only when
 * the cache needs refreshing, and when it cannot be written the refresh runs into TEMP copies for this query only.
 */
export async function openAttributed(
  g: GlobalOptions,
  opts: Record<string, unknown>,
  now: () => number,
  needed = true,
): Promise<Attributed> {
  const path = dbPath(g);
  if (!existsSync(path)) openForRead(g).close(); // throws the usual "does not exist" usage error
  const store = typeof opts.ipRanges === 'string' ? openForWrite(g) : openForRead(g);
  try {
    if (typeof opts.ipRanges === 'string') {
      const r = await importAwsFiles(store, [opts.ipRanges], now());
      if (r.files[0]!.document !== 'ip-ranges')
        throw new UsageError(`--ip-ranges ${opts.ipRanges}: not an ip-ranges.json document`, 'ip_ranges');
    }
    // `needed` false: no attribution filter or column: edges alone answer, whatever the inventory.
    if (!needed || !attributionUsesCache(store.db)) return { store, cache: false };
    if (!attributionStale(store.db)) return { store, cache: true };
    if (store.db.readonly) {
      let writable: Store | null = null;
      try {
        writable = openForWrite(g);
        refreshAttribution(writable.db);
        store.close();
        return { store: writable, cache: true };
      } catch (err) {
        writable?.close();
        if (!cannotWrite(err)) throw err;
      }
      say(
        g,
        `egress-learner: warning: cannot write ${path}: attribution is computed for this query without caching`,
        'warn',
      );
      shadowAttributionCache(store.db);
    }
    refreshAttribution(store.db);
    return { store, cache: true };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** A failure to write the database file (read-only file, directory or mount), as opposed to any other error. */
function cannotWrite(err: unknown): boolean {
  if (err instanceof KnownError) return err.code === 'db_open';
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    /^(SQLITE_READONLY|SQLITE_CANTOPEN|SQLITE_PERM|SQLITE_AUTH|EACCES|EROFS|EPERM)/.test(code)
  );
}

function parseVpcCidrs(opts: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const c of (opts.vpcCidr as string[] | undefined) ?? []) {
    const parsed = parseAddressFilter(c);
    if (parsed === null) throw new UsageError(`--vpc-cidr ${JSON.stringify(c)}: expected a CIDR`);
    out.push(parsed.text);
  }
  return out;
}

function workloadsCommand(now: () => number): Command {
  return new Command('workloads')
    .description('workloads seen in the inventory, with the traffic attributed to them')
    .option('--namespace <ns>', 'only this namespace (repeatable)', collect)
    .option('--workload <id>', 'only this workload: namespace/Kind/name (repeatable)', collect)
    .option(
      '--label <k=v>',
      'only workloads whose pods carry this label (repeatable; all must match)',
      collectOne,
    )
    .option('--since <when>', 'count traffic from this time on')
    .option('--until <when>', 'count traffic up to this time')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
flows/packets/bytes count traffic attributed to the workload exactly; candidateFlows/candidateBytes count traffic
attributed only to a node (the VPC CNI's SNAT, or an IP that changed hands mid-flow) on which one of its pods ran.

Example:
  egress-learner query workloads --namespace payments -o json`,
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const filter = parseFilter(opts, now());
      const format = parseOutputFormat(opts.output as string);
      const { store, cache } = await openAttributed(g, {}, now);
      try {
        const window: FlowFilter = { since: filter.since, until: filter.until };
        const inventory = new InventoryStore(store.db).workloads();
        const traffic = new Map<string, WorkloadTraffic>();
        // Without inventory no workload is listed, and nothing would be attributed to one: skip the scans.
        if (cache && inventory.length > 0) {
          for (const t of queryWorkloadTraffic(store.db, window))
            traffic.set(`${t.cluster}/${workloadId(t)}`, t);
        }
        const candidates = new Map(
          cache && inventory.length > 0
            ? queryCandidateTraffic(store.db, window).map((c) => [c.workload, c])
            : [],
        );
        const wanted = new Set((filter.workload ?? []).map((w) => w.toLowerCase()));
        const rows: OutputRow[] = [];
        for (const w of inventory) {
          const id = workloadId(w.workload);
          if (filter.namespace?.length && !filter.namespace.includes(w.workload.namespace)) continue;
          if (wanted.size > 0 && !wanted.has(id.toLowerCase())) continue;
          if (!(filter.label ?? []).every(([k, v]) => w.labels[k] === v)) continue;
          const t = traffic.get(`${w.workload.cluster}/${id}`);
          const c = candidates.get(id);
          rows.push({
            workload: id,
            namespace: w.workload.namespace,
            kind: w.workload.kind,
            name: w.workload.name,
            pods: w.pods,
            flows: t?.flows ?? 0,
            packets: t?.packets ?? 0,
            bytes: t?.bytes ?? 0,
            candidateFlows: c?.flows ?? 0,
            candidateBytes: c?.bytes ?? 0,
            firstSeen: isoTime(w.firstSeen),
            lastSeen: w.lastSeen === null ? null : isoTime(w.lastSeen),
            firstFlow: t === undefined ? null : isoTime(t.firstFlow),
            lastFlow: t === undefined ? null : isoTime(t.lastFlow),
            labels: Object.entries(w.labels).map(([k, v]) => `${k}=${v}`),
          });
        }
        const cols = [
          'workload',
          'pods',
          'flows',
          'packets',
          'bytes',
          'candidateFlows',
          'candidateBytes',
          'firstSeen',
          'lastSeen',
          'firstFlow',
          'lastFlow',
        ];
        process.stdout.write(
          render(
            rows,
            format === 'table'
              ? cols.filter((c) => c !== 'packets' && c !== 'candidateBytes')
              : ['workload', 'namespace', 'kind', 'name', ...cols.slice(1), 'labels'],
            format,
          ),
        );
      } finally {
        store.close();
      }
    });
}

function coverageCommand(now: () => number): Command {
  return withFilterOptions(
    new Command('coverage').description(
      'how much traffic is attributed to a workload, to a node only, or to nothing, and why',
    ),
  )
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
One row for all traffic, one per source kind and one per node. Outcomes: workload (one workload held the source
address over the whole flow), node (a node's address: with the AWS VPC CNI's default SNAT, pod traffic leaving the
VPC carries the node's address; or the address changed hands mid-flow on one node), instance (an ENI from
aws-inventory), none. reasons counts why flows were not attributed to one workload.

Examples:
  egress-learner query coverage
  egress-learner query coverage --direction egress --since 24h -o json`,
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const filter = parseFilter(opts, now());
      const format = parseOutputFormat(opts.output as string);
      const { store, cache } = await openAttributed(g, opts, now);
      try {
        const rows = queryCoverage(store.db, filter, cache);
        const share = (part: number, whole: number): number | null =>
          whole === 0 ? null : Math.round((part / whole) * 10000) / 10000;
        if (format === 'json' || format === 'yaml') {
          const docs = rows.map((r) => ({
            scope: r.scope,
            key: r.key === '' ? null : r.key,
            flows: r.total.flows,
            bytes: r.total.bytes,
            ...Object.fromEntries(
              COVERAGE_OUTCOMES.map((o) => [
                o,
                {
                  flows: r.outcomes[o].flows,
                  bytes: r.outcomes[o].bytes,
                  flowShare: share(r.outcomes[o].flows, r.total.flows),
                  byteShare: share(r.outcomes[o].bytes, r.total.bytes),
                },
              ]),
            ),
            reasons: r.reasons,
          }));
          process.stdout.write(
            format === 'json' ? `${JSON.stringify(docs, null, 2)}\n` : yaml().stringify(docs),
          );
          return;
        }
        const out: OutputRow[] = rows.map((r) => {
          const row: Record<string, OutputRow[string]> = {
            scope: r.scope,
            key: r.key === '' ? null : r.key,
            flows: r.total.flows,
            bytes: r.total.bytes,
          };
          for (const o of COVERAGE_OUTCOMES) {
            row[`${o}FlowShare`] = share(r.outcomes[o].flows, r.total.flows);
            row[`${o}ByteShare`] = share(r.outcomes[o].bytes, r.total.bytes);
          }
          row.reasons = Object.entries(r.reasons).map(([k, v]) => `${k}=${v.flows}`);
          return row;
        });
        const cols = [
          'scope',
          'key',
          'flows',
          'bytes',
          ...COVERAGE_OUTCOMES.flatMap((o) => [`${o}FlowShare`, `${o}ByteShare`]),
          'reasons',
        ];
        process.stdout.write(render(out, cols, format));
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
  workload: 'workload',
  namespace: 'namespace',
  'src-kind': 'srcKind',
  'dst-class': 'dstClass',
};

/** The table leaves out the reply count and packet counters to fit a terminal; JSON and CSV keep all. */
function tableColumns(columns: string[]): string[] {
  return columns.filter((c) => c !== 'replies' && c !== 'packetsOut' && c !== 'packetsIn');
}

function presentFlow(r: FlowRow): OutputRow {
  const out: Record<string, OutputRow[string]> = {};
  if (r.bucket !== undefined) out.bucket = isoTime(r.bucket);
  if (r.hour !== undefined) out.hour = isoTime(r.hour);
  if (r.day !== undefined) out.day = isoTime(r.day)?.slice(0, 10) ?? null;
  if (r.src !== undefined) out.src = r.src || null;
  if (r.dst !== undefined) out.dst = r.dst || null;
  if (r.host !== undefined) out.host = r.host || null;
  if (r.port !== undefined) out.port = r.port;
  if (r.protocol !== undefined) out.protocol = PROTOCOL_NAMES[r.protocol] ?? String(r.protocol);
  if (r.action !== undefined) out.action = r.action;
  if (r.direction !== undefined) out.direction = r.direction;
  if (r.workload !== undefined) out.workload = r.workload;
  if (r.namespace !== undefined) out.namespace = r.namespace;
  if (r.srcKind !== undefined) out.srcKind = r.srcKind;
  if (r.dstClass !== undefined) out.dstClass = r.dstClass;
  if (r.dstName !== undefined) out.dstName = r.dstName;
  out.packets = r.packets ?? 0;
  out.bytes = r.bytes ?? 0;
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

/** An address filter as stored addresses compare with it: an IPv4-mapped one as the IPv4 address or block it maps. */
function asStored(text: string, c: Cidr | null): string {
  return c !== null && c.family === 4 && text.includes(':') ? c.text : text;
}

export function parseFilter(opts: Record<string, unknown>, now: number): FlowFilter {
  const list = (k: string): string[] | undefined => opts[k] as string[] | undefined;
  // Addresses as stored: an IPv4-mapped one (`::ffff:10.0.0.6`) is its IPv4 address (see parseAddressFilter).
  const src = list('src')?.map((s) => {
    const c = parseAddressFilter(s);
    if (c === null)
      throw new UsageError(`--src ${JSON.stringify(s)}: expected an IP address or CIDR (without host bits)`);
    return asStored(s, c);
  });
  const dst = list('dst')?.map((d) => {
    // Anything with a '/' or shaped like an address (digits and dots, or a ':') must parse as one: a typo such as
    // 10.0.0.1/8 (host bits set) or 10.0.0.300 would otherwise become a host name that matches nothing.
    const address = /[/:]|^[\d.]+$/.test(d);
    const c = address ? parseAddressFilter(d) : null;
    if (address ? c === null : !HOST_FILTER.test(d))
      throw new UsageError(
        `--dst ${JSON.stringify(d)}: expected an IP address, CIDR (without host bits), host name or *.suffix`,
      );
    return asStored(d, c);
  });
  for (const ns of list('namespace') ?? []) {
    if (!NAMESPACE.test(ns))
      throw new UsageError(`--namespace ${JSON.stringify(ns)}: expected a Kubernetes namespace name`);
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
  const { since, until } = parseWindow(opts, now);
  const workload = list('workload');
  for (const w of workload ?? []) {
    const parts = w.split('/');
    const ok =
      w === UNATTRIBUTED ||
      (parts.length === 3 && parts.every((p) => p !== '')) ||
      (parts.length === 2 && (parts[0] === 'node' || parts[0] === 'instance') && parts[1] !== '');
    if (!ok)
      throw new UsageError(
        `--workload ${JSON.stringify(w)}: expected namespace/Kind/name, node/<name>, instance/<id> or unattributed`,
      );
  }
  const label = list('label')?.map((text): [string, string] => {
    const eq = text.indexOf('=');
    const key = eq === -1 ? '' : text.slice(0, eq);
    const value = eq === -1 ? '' : text.slice(eq + 1);
    if (eq === -1 || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value))
      throw new UsageError(
        `--label ${JSON.stringify(text)}: expected key=value with a Kubernetes label key and value`,
      );
    return [key, value];
  });
  return {
    namespace: list('namespace'),
    workload,
    label,
    src,
    dst,
    port,
    protocol,
    action: opts.action as FlowFilter['action'],
    direction: opts.direction as FlowFilter['direction'],
    sourceKind,
    since,
    until,
  };
}

/**
 * `--group-by a,b`; `--group-by ''` sums everything into one row. An empty name inside a list (`src,,port`, a
 * trailing comma) or a name given twice is refused: it is a typo or a variable that expanded to nothing, and
 * quietly dropping it would answer another question than the one asked.
 */
function parseGroupBy(text: string | undefined): GroupField[] | null {
  if (text === undefined) return null;
  if (text === '') return [];
  const out: GroupField[] = [];
  for (const raw of text.split(',')) {
    const f = raw.trim();
    if (f === '')
      throw new UsageError(`--group-by ${JSON.stringify(text)}: empty field name (expected a,b,…)`);
    const g = oneOf<GroupField>(GROUP_FIELDS, f, '--group-by');
    if (out.includes(g)) throw new UsageError(`--group-by ${JSON.stringify(text)}: ${g} is given twice`);
    out.push(g);
  }
  return out;
}

/** An hour or day grouping finer than the database's buckets would label whole buckets as hours. */
function refuseFinerThanBuckets(groupBy: readonly GroupField[] | null, bucketSeconds: number): void {
  for (const [field, seconds] of [
    ['hour', 3600],
    ['day', 86_400],
  ] as const) {
    if (groupBy?.includes(field) === true && bucketSeconds > seconds)
      throw new UsageError(
        `--group-by ${field}: this database sums edges over ${bucketSeconds} s buckets, longer than ${field === 'hour' ? 'an hour' : 'a day'} (group by day, or collect into a database with --bucket 1h)`,
      );
  }
}

function parsePositiveInt(text: string | undefined, flag: string): number | null {
  return text === undefined ? null : positiveInt(text, flag);
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
        let found = 0;
        const rows = (function* (): Generator<OutputRow> {
          for (const q of queryQuarantine(store.db, { reason: opts.reason, source: opts.source, limit })) {
            found++;
            yield { source: q.source, line: q.line, kind: q.kind, reason: q.reason, raw: q.raw };
          }
        })();
        writeRows(process.stdout, rows, ['source', 'line', 'kind', 'reason', 'raw'], format);
        // A filter that can match nothing is more likely a typo than a clean input: say what there is.
        if (found === 0) warnUnmatched(g, store, opts.reason, opts.source);
      } finally {
        store.close();
      }
    });
}

function warnUnmatched(g: GlobalOptions, store: Store, reason?: string, source?: string): void {
  const list = (xs: readonly string[], total: number): string =>
    xs.length === 0 ? 'none' : `${xs.join(', ')}${total > xs.length ? `, … (${total} in all)` : ''}`;
  const reasons = quarantineCountsByReason(store.db);
  if (reason !== undefined && !reasons.some((r) => r.reason === reason)) {
    const held = reasons.map((r) => `${r.reason} (${r.count})`);
    say(
      g,
      `query quarantine: no line was quarantined for ${reason}; the reasons held are: ${list(held, held.length)}`,
      'warn',
    );
  }
  if (source === undefined) return;
  const named = quarantineSourceNamed(store.db, source, 10);
  if (!named.found)
    say(
      g,
      `query quarantine: no input named ${source} has quarantined lines (inputs are named as given to collect); those that have: ${list(named.names, named.total)}`,
      'warn',
    );
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
        // Kafka partitions are sources too (`kafka:topic/partition`, line = next offset); their lag is the
        // partition end seen at the last commit minus that offset.
        const kafka = new Map(
          listKafkaPartitions(store.db).map((k) => [`kafka:${k.topic}/${k.partition}`, k]),
        );
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
          lag: ((k) => (k === undefined ? null : Math.max(0, k.highWatermark - k.nextOffset)))(
            kafka.get(s.sourceId),
          ),
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
          ...(kafka.size > 0 ? ['lag'] : []),
        ];
        process.stdout.write(
          render(rows, format === 'table' ? cols : [...cols, 'sourceId', 'updatedAt'], format),
        );
      } finally {
        store.close();
      }
    });
}
