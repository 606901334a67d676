import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../collectors/kubernetes/kubeconfig.js';
import { InventoryWatcher } from '../../collectors/kubernetes/watch.js';
import { k8sCommand } from '../../src/cli/collect-k8s.js';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import { tempDir } from '../helpers/tmp.js';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:1
users:
- name: u1
  user:
    token: t
contexts:
- name: ctx-a
  context: {cluster: c1, user: u1}
- name: ctx-b
  context: {cluster: c1, user: u1}
current-context: ctx-a
`;

const program = (): Command =>
  new Command('egress-learner')
    .option('--db <file>')
    .option('-q, --quiet')
    .option('--log-level <level>', '', 'warn')
    .option('--log-format <format>', '', 'text')
    .addCommand(new Command('collect').addCommand(k8sCommand()))
    .exitOverride();

describe('kubeconfig conventions', () => {
  it('loads --kubeconfig and switches to --context', () => {
    const file = join(tempDir(), 'kc');
    writeFileSync(file, KUBECONFIG);
    expect(loadKubeConfig({ kubeconfig: file, context: 'ctx-b' }).getCurrentContext()).toBe('ctx-b');
  });

  it('names a missing file, an unknown context and a broken file in one line', () => {
    const dir = tempDir();
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') })).toThrow(
      /kubeconfig .*nope does not exist/,
    );
    const file = join(dir, 'kc');
    writeFileSync(file, KUBECONFIG);
    expect(() => loadKubeConfig({ kubeconfig: file, context: 'prod' })).toThrow(
      'kubeconfig has no context "prod" (known: ctx-a, ctx-b)',
    );
    const broken = join(dir, 'broken');
    writeFileSync(broken, 'clusters: [');
    expect(() => loadKubeConfig({ kubeconfig: broken })).toThrow(/^cannot load kubeconfig .*broken: /);
  });

  it('reports an unreachable API server as a UsageError', async () => {
    const file = join(tempDir(), 'kc');
    writeFileSync(file, KUBECONFIG);
    const watcher = new InventoryWatcher({
      kubeConfig: loadKubeConfig({ kubeconfig: file }),
      sink: new LeaseRecorder({ record: () => undefined }, '', []),
    });
    await expect(watcher.listAll()).rejects.toMatchObject({
      name: 'UsageError',
      code: 'k8s_unreachable',
      message: expect.stringMatching(
        /^cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
      ),
    });
  });
});

describe('collect k8s --snapshot', () => {
  it('imports a kubectl List timed by --at, and refuses an older one afterwards', async () => {
    const dir = tempDir();
    const db = join(dir, 'el.db');
    const snap = new URL('../fixtures/kubernetes/snapshot-b.json', import.meta.url).pathname;
    const run = (...args: string[]) =>
      program().parseAsync(['--db', db, '-q', 'collect', 'k8s', ...args], { from: 'user' });
    await run('--snapshot', snap, '--at', '2025-03-01T10:00:00Z');
    await expect(run('--snapshot', snap, '--at', '2025-03-01T09:00:00Z')).rejects.toMatchObject({
      name: 'UsageError',
      code: 'snapshot_order',
    });
  });

  it('reports a missing snapshot file as an InputError', async () => {
    const db = join(tempDir(), 'el.db');
    await expect(
      program().parseAsync(['--db', db, 'collect', 'k8s', '--snapshot', '/nonexistent/inv.json'], {
        from: 'user',
      }),
    ).rejects.toMatchObject({
      name: 'InputError',
      exitCode: 2,
      message: '/nonexistent/inv.json: no such file or directory',
    });
  });
});
