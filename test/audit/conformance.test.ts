import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectivity, externalRanges, formatConnlistJson } from '../../src/audit/connectivity.js';
import { formatRange } from '../../src/audit/ip-range.js';
import { readManifests } from '../../src/audit/manifests.js';
import { cli } from '../helpers/cli.js';
import {
  caseDir,
  caseInfo,
  connectionKeys,
  corpusCases,
  expectedEntries,
  type ExpectedEntry,
} from './corpus.js';

// Every case index.json lists, read at test time so that added cases are run without touching this file.
const cases = corpusCases();

describe('NetworkPolicy conformance corpus', () => {
  it('lists cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  // In-process through the same reader, evaluator and JSON writer as the CLI: the whole corpus in about a
  // second, where 65 CLI start-ups would take over a minute. The CLI itself is checked on a few cases below.
  it.each(cases.map((c) => c.id))('%s: allows exactly the expected connections', (id) => {
    const manifests = readManifests(join(caseDir(id), 'input'));
    const actual = JSON.parse(formatConnlistJson(connectivity(manifests))) as ExpectedEntry[];
    const expected = expectedEntries(id);
    expect(connectionKeys(actual)).toEqual(connectionKeys(expected));
  });

  // Everything left out of expected.json is "No Connections", so the peer universe must match too: a missing
  // workload or a wrongly cut external range would otherwise hide denied pairs.
  it.each(cases.map((c) => c.id))('%s: finds the same workloads and external ranges', (id) => {
    const manifests = readManifests(join(caseDir(id), 'input'));
    const info = caseInfo(id);
    const named = (direction: 'ingress' | 'egress'): string[] =>
      externalRanges(manifests.policies, direction).map((r) => `${formatRange(r)}[External]`);
    expect(manifests.workloads.map((w) => w.id).sort()).toEqual([...info.workloads].sort());
    expect(named('ingress').sort()).toEqual([...info.external_src_peers].sort());
    expect(named('egress').sort()).toEqual([...info.external_dst_peers].sort());
  });
});

describe('egress-learner audit connectivity -o json', () => {
  const sample = [
    'ipblockstest',
    'semanticDiff-same-topologies-new2',
    'acs-security-demos',
    'exposure_test_egress_with_named_port',
  ];

  it.each(sample.filter((id) => cases.some((c) => c.id === id)))(
    '%s: prints the expected connections, one JSON object per line',
    (id) => {
      const r = cli(['audit', 'connectivity', join(caseDir(id), 'input'), '-o', 'json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const expected = expectedEntries(id);
      expect(connectionKeys(JSON.parse(r.stdout) as ExpectedEntry[])).toEqual(connectionKeys(expected));
      expect(r.stdout.split('\n')).toHaveLength(expected.length + 3);
    },
  );

  it('prints a table of src, dst and conn by default', () => {
    const r = cli(['audit', 'connectivity', join(caseDir('semanticDiff-same-topologies-new2'), 'input')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SRC\s+DST\s+CONN$/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^demo\/cog-agents-bank-ui\[DaemonSet\]\s+demo\/cog-agents-account-command\[DaemonSet\]\s+TCP 8081-8082,UDP 9091$/,
      ),
    );
  });
});
