import type Database from 'better-sqlite3';
import { addressBytes, cidrContains, parseCidr, type Cidr } from '../model/cidr.js';
import { canonicalIp, ipv4Number } from '../model/ip.js';

/**
 * SQL functions the queries use. `in_cidr(addr, cidr)` keeps CIDR filtering inside SQLite so that grouping
 * and `LIMIT` still happen there; the parsed block is cached because the same CIDR is asked for every row.
 */
export function registerFunctions(db: Database.Database): void {
  const cache = new Map<string, Cidr | null>();
  db.function('in_cidr', { deterministic: true }, (addr: unknown, cidr: unknown) => {
    if (typeof addr !== 'string' || typeof cidr !== 'string' || addr === '') return 0;
    let block = cache.get(cidr);
    if (block === undefined) {
      block = parseCidr(cidr);
      cache.set(cidr, block);
    }
    if (block === null) return 0;
    const bytes = addressBytes(addr);
    return bytes !== null && cidrContains(block, bytes) ? 1 : 0;
  });
  // An address as `edge_rows` keeps it (migration 0009): an IPv4 address (or an IPv4-mapped one) as its number,
  // anything else as is.
  db.function('el_ipv4_number', { deterministic: true }, (addr: unknown) =>
    typeof addr === 'string' ? (ipv4Number(canonicalIp(addr) ?? addr) ?? addr) : addr,
  );
  // SQLite has no bitwise-OR aggregate; edge `sources` masks need one when grouped.
  db.aggregate('bit_or', {
    start: 0,
    step: (acc: number, v: unknown) => acc | (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : 0),
  });
}
