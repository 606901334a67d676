import { addressBytes, type Cidr } from '../model/cidr.js';

/**
 * Longest-prefix match over a set of CIDR blocks (AWS ip-ranges.json, VPC CIDRs, ENI delegated prefixes). One
 * hash map per prefix length that occurs, tried from the longest down: at most 33 (IPv4) or 129 (IPv6) lookups,
 * usually a handful, with no per-lookup allocation for IPv4.
 */
export class PrefixTable<T> {
  readonly #v4 = new Map<number, Map<number, T[]>>();
  readonly #v6 = new Map<number, Map<string, T[]>>();
  #v4Lengths: number[] = [];
  #v6Lengths: number[] = [];

  get size(): number {
    let n = 0;
    for (const m of this.#v4.values()) n += m.size;
    for (const m of this.#v6.values()) n += m.size;
    return n;
  }

  add(cidr: Cidr, value: T): void {
    if (cidr.family === 4) {
      let m = this.#v4.get(cidr.prefix);
      if (m === undefined) {
        m = new Map();
        this.#v4.set(cidr.prefix, m);
        this.#v4Lengths = [...this.#v4.keys()].sort((a, b) => b - a);
      }
      push(m, v4Key(cidr.bytes, cidr.prefix), value);
    } else {
      let m = this.#v6.get(cidr.prefix);
      if (m === undefined) {
        m = new Map();
        this.#v6.set(cidr.prefix, m);
        this.#v6Lengths = [...this.#v6.keys()].sort((a, b) => b - a);
      }
      push(m, v6Key(cidr.bytes, cidr.prefix), value);
    }
  }

  /** The values of the longest block containing `addr` (every value added for that block), or null. */
  lookup(addr: string): { readonly prefix: number; readonly values: readonly T[] } | null {
    const bytes = addressBytes(addr);
    if (bytes === null) return null;
    if (bytes.length === 4) {
      for (const len of this.#v4Lengths) {
        const hit = this.#v4.get(len)!.get(v4Key(bytes, len));
        if (hit !== undefined) return { prefix: len, values: hit };
      }
      return null;
    }
    for (const len of this.#v6Lengths) {
      const hit = this.#v6.get(len)!.get(v6Key(bytes, len));
      if (hit !== undefined) return { prefix: len, values: hit };
    }
    return null;
  }
}

function push<K, T>(m: Map<K, T[]>, key: K, value: T): void {
  const list = m.get(key);
  if (list === undefined) m.set(key, [value]);
  else list.push(value);
}

function v4Key(bytes: Uint8Array, len: number): number {
  const n = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  if (len === 0) return 0;
  return (n & (0xffffffff << (32 - len))) >>> 0;
}

function v6Key(bytes: Uint8Array, len: number): string {
  let key = '';
  const full = len >> 3;
  for (let i = 0; i < full; i++) key += String.fromCharCode(bytes[i]!);
  const rest = len & 7;
  if (rest !== 0) key += String.fromCharCode(bytes[full]! & ((0xff << (8 - rest)) & 0xff));
  return key;
}
