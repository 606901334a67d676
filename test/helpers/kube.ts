/**
 * The real kube-apiserver the suite starts on 127.0.0.1 (`bash scripts/kube-apiserver.sh up`, run by
 * scripts/test.sh): its env file and an admin KubeConfig for it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export const KUBE_ENV_FILE = process.env.KUBE_TEST_ENV_FILE ?? '/tmp/kube-test-run/env';

export function readKubeEnv(): Record<string, string> {
  if (!existsSync(KUBE_ENV_FILE)) {
    throw new Error(
      `no kube-apiserver for the Kubernetes tests: ${KUBE_ENV_FILE} is missing; run \`bash scripts/kube-apiserver.sh up\` first`,
    );
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(KUBE_ENV_FILE, 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** A KubeConfig for the test cluster's admin. */
export function adminConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(readKubeEnv().KUBECONFIG!);
  return kc;
}
