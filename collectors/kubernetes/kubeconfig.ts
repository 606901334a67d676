/**
 * kubectl's conventions for finding the cluster: `--kubeconfig <file>`, else `$KUBECONFIG` (a path list, merged),
 * else `~/.kube/config`, else the in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount);
 * `--context` picks a context. Problems become one-line `UsageError`s.
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from '../../src/model/errors.js';

export interface KubeConfigOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
}

export function loadKubeConfig(opts: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig !== undefined) {
      if (!existsSync(opts.kubeconfig)) {
        throw new UsageError(`kubeconfig ${opts.kubeconfig} does not exist`, 'kubeconfig');
      }
      kc.loadFromFile(opts.kubeconfig);
    } else {
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const where = opts.kubeconfig ?? (process.env.KUBECONFIG || '~/.kube/config');
    throw new UsageError(`cannot load kubeconfig ${where}: ${firstLine(err)}`, 'kubeconfig');
  }
  if (opts.context !== undefined) {
    if (kc.getContextObject(opts.context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UsageError(
        `kubeconfig has no context ${JSON.stringify(opts.context)} (known: ${known.join(', ') || 'none'})`,
        'kubeconfig',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  // loadFromDefault's last resort is an unauthenticated http://localhost:8080, which is never what a user meant.
  if (cluster === null || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw new UsageError(
      'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config or run in a pod with a service account',
      'kubeconfig',
    );
  }
  return kc;
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}
