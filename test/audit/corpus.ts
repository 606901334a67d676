import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared NetworkPolicy conformance corpus (netpol-analyzer's connlist outputs), next to the repository. */
export const CORPUS = resolve(
  fileURLToPath(new URL('../..', import.meta.url)),
  '..',
  'shared',
  'conformance',
);

export interface CorpusCase {
  readonly id: string;
  readonly connections: number;
}

export interface CaseInfo {
  readonly workloads: readonly string[];
  readonly external_src_peers: readonly string[];
  readonly external_dst_peers: readonly string[];
}

export interface ExpectedEntry {
  readonly src: string;
  readonly dst: string;
  readonly allowed: string | readonly { protocol: string; port: number; endPort?: number }[];
  readonly conn: string;
}

export function corpusCases(): CorpusCase[] {
  return (JSON.parse(readFileSync(join(CORPUS, 'index.json'), 'utf8')) as { cases: CorpusCase[] }).cases;
}

export const caseDir = (id: string): string => join(CORPUS, 'cases', id);

export function caseInfo(id: string): CaseInfo {
  return JSON.parse(readFileSync(join(caseDir(id), 'case.json'), 'utf8')) as CaseInfo;
}

export function expectedEntries(id: string): ExpectedEntry[] {
  return JSON.parse(readFileSync(join(caseDir(id), 'expected.json'), 'utf8')) as ExpectedEntry[];
}

/**
 * One comparable line per connection: order of the list and of `allowed` does not matter, and the key order of
 * an `allowed` item does not either.
 */
export function connectionKeys(entries: readonly ExpectedEntry[]): string[] {
  return entries
    .map((e) => {
      const allowed =
        typeof e.allowed === 'string'
          ? e.allowed
          : e.allowed
              .map((r) => `${r.protocol}:${r.port}-${r.endPort ?? r.port}`)
              .sort()
              .join(',');
      return `${e.src} -> ${e.dst} | ${allowed} | ${e.conn}`;
    })
    .sort();
}
