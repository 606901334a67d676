import type Database from 'better-sqlite3';
import { addressBytes, cidrContains, parseAddressFilter, type Cidr } from '../model/cidr.js';
import type { DnsAnswerAggregate } from '../model/dns.js';
import { UsageError } from '../model/errors.js';
import { SOURCE_KINDS } from '../model/observation.js';
import type { Store } from './store.js';

/** A name that resolved to an address, as `answersFor` reports it. */
export interface ResolvedName {
  readonly name: string;
  /** The asking client; '' when the log did not name one. */
  readonly client: string;
  readonly type: string;
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly minTtl: number | null;
  readonly sourceKinds: readonly string[];
}

/** Filters of `query dns`; values inside one field are OR-ed, fields AND-ed. */
export interface DnsFilter {
  /** Exact names or `*.suffix` patterns (the suffix itself included). */
  readonly name?: readonly string[];
  /** Addresses or CIDRs the answer falls in. */
  readonly answer?: readonly string[];
  /** Addresses or CIDRs the asking client falls in. */
  readonly client?: readonly string[];
  readonly since?: number;
  readonly until?: number;
}

export interface DnsRow {
  readonly client: string;
  readonly name: string;
  readonly type: string;
  readonly answer: string;
  readonly rcode: string;
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly minTtl: number | null;
  readonly sources: readonly string[];
}

interface ResolvedRow {
  name: string;
  client: string;
  type: string;
  count: number;
  first_seen: number;
  last_seen: number;
  min_ttl: number | null;
  sources: string | null;
}

/** `GROUP_CONCAT(DISTINCT sources)` → the OR of the masks → kind names. */
function kindsOf(concat: unknown): string[] {
  let mask = 0;
  for (const part of String(concat ?? '').split(',')) mask |= Number(part) || 0;
  const out: string[] = [];
  for (let i = 0; i < SOURCE_KINDS.length; i++) if ((mask & (1 << i)) !== 0) out.push(SOURCE_KINDS[i]!);
  return out;
}

/**
 * The `dns_answers` table: the batched writer the DNS ingest calls inside `Store.writeBatch`'s transaction, and
 * the reads inference and `query dns` need. Shares the Store's connection, so its writes join that transaction.
 */
export class DnsStore {
  readonly #db: Database.Database;
  readonly #upsert: Database.Statement;
  readonly #resolvedAny: Database.Statement;
  readonly #resolvedByClient: Database.Statement;

  constructor(store: Store) {
    this.#db = store.db;
    this.#upsert = this.#db.prepare(`
      INSERT INTO dns_answers (bucket, client, name, type, answer, rcode, count, first_seen, last_seen, min_ttl, sources)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET
        count = count + excluded.count,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        min_ttl = MIN(COALESCE(min_ttl, excluded.min_ttl), COALESCE(excluded.min_ttl, min_ttl)),
        sources = sources | excluded.sources`);
    // An answer is live from when it was given until its TTL (or, without one, nothing) plus the grace ran out.
    const resolved = (byClient: boolean) => `
      SELECT name, client, type, SUM(count) AS count, MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
             MIN(min_ttl) AS min_ttl, GROUP_CONCAT(DISTINCT sources) AS sources
      FROM dns_answers
      WHERE answer = @ip AND first_seen <= @before
        AND last_seen + COALESCE(min_ttl, 0) + @within >= @before
        ${byClient ? 'AND client = @client' : ''}
      GROUP BY name, client, type
      ORDER BY name, client, type`;
    this.#resolvedAny = this.#db.prepare(resolved(false));
    this.#resolvedByClient = this.#db.prepare(resolved(true));
  }

  /** Upserts aggregates; call inside a transaction (`Store.writeBatch`'s `extra`). Returns the rows written. */
  writeAnswers(rows: Iterable<DnsAnswerAggregate>): number {
    let n = 0;
    for (const r of rows) {
      this.#upsert.run(
        r.bucket,
        r.client,
        r.name,
        r.type,
        r.answer,
        r.rcode,
        r.count,
        r.firstSeen,
        r.lastSeen,
        r.minTtl,
        r.sources,
      );
      n++;
    }
    return n;
  }

  /**
   * Names that resolved to `ip` and were still live at `before`: given at or before it, and last given no more
   * than the answer's TTL plus `within` seconds (the grace; all of the window when the format logs no TTL)
   * earlier. With `client`, only that client's answers ('' for answers whose client was unknown); without, any
   * client's, one row per client.
   */
  answersFor(ip: string, before: number, within: number, client?: string): ResolvedName[] {
    const params = { ip, before, within, client: client ?? '' };
    const rows = (
      client === undefined ? this.#resolvedAny.all(params) : this.#resolvedByClient.all(params)
    ) as ResolvedRow[];
    const out: ResolvedName[] = [];
    for (const r of rows) {
      out.push({
        name: r.name,
        client: r.client,
        type: r.type,
        count: r.count,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        minTtl: r.min_ttl,
        sourceKinds: kindsOf(r.sources),
      });
    }
    return out;
  }

  /** `query dns`: rows summed over buckets, ordered by name, client, type, answer. */
  *answers(f: DnsFilter = {}): Generator<DnsRow> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.name !== undefined && f.name.length > 0) {
      const ors: string[] = [];
      for (const n of f.name) {
        const lower = n.toLowerCase().replace(/\.$/, '');
        if (lower.startsWith('*.')) {
          ors.push("(name = ? OR name LIKE ? ESCAPE '\\')");
          const suffix = lower.slice(2);
          params.push(suffix, `%.${suffix.replace(/[\\%_]/g, (c) => `\\${c}`)}`);
        } else {
          ors.push('name = ?');
          params.push(lower);
        }
      }
      where.push(`(${ors.join(' OR ')})`);
    }
    if (f.since !== undefined) {
      where.push('last_seen >= ?');
      params.push(f.since);
    }
    if (f.until !== undefined) {
      where.push('first_seen <= ?');
      params.push(f.until);
    }
    const sql = `
      SELECT client, name, type, answer, rcode, SUM(count) AS count, MIN(first_seen) AS first_seen,
             MAX(last_seen) AS last_seen, MIN(min_ttl) AS min_ttl, GROUP_CONCAT(DISTINCT sources) AS sources
      FROM dns_answers
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      GROUP BY client, name, type, answer, rcode
      ORDER BY name, client, type, answer, rcode`;
    const cidrsOf = (values: readonly string[] | undefined, flag: string) =>
      (values ?? []).map((a) => {
        const c = parseAddressFilter(a);
        if (c === null) throw new UsageError(`${flag} ${JSON.stringify(a)}: expected an address or CIDR`);
        return c;
      });
    const answers = cidrsOf(f.answer, '--answer');
    const clients = cidrsOf(f.client, '--client');
    const within = (cidrs: readonly Cidr[], address: string): boolean => {
      if (cidrs.length === 0) return true;
      const bytes = addressBytes(address);
      return bytes !== null && cidrs.some((c) => cidrContains(c, bytes));
    };
    for (const r of this.#db.prepare(sql).iterate(...params) as Iterable<Record<string, unknown>>) {
      const answer = r['answer'] as string;
      if (!within(answers, answer) || !within(clients, r['client'] as string)) continue;
      yield {
        client: r['client'] as string,
        name: r['name'] as string,
        type: r['type'] as string,
        answer,
        rcode: r['rcode'] as string,
        count: r['count'] as number,
        firstSeen: r['first_seen'] as number,
        lastSeen: r['last_seen'] as number,
        minTtl: r['min_ttl'] as number | null,
        sources: kindsOf(r['sources']),
      };
    }
  }
}
