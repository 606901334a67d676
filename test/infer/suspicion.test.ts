import { describe, expect, it } from 'vitest';
import { workloadProfiles } from '../../src/infer/senders.js';
import { suspicionsOf } from '../../src/infer/suspicion.js';
import type { Lease } from '../../src/model/workload.js';
import { addressDest, evidence, exact, sender, workload } from '../helpers/inference.js';

const T0 = 1_763_596_800;
const DAY = 86_400;
const ctx = { dataEnd: T0 + 14 * DAY, span: 14 * DAY, dnsSeen: true };
const api = sender(workload('shop', 'Deployment', 'api'), { pods: 3, maxReplicas: 3 });
const codes = (...a: Parameters<typeof suspicionsOf>) => suspicionsOf(...a).map((s) => s.code);

describe('suspicions', () => {
  it('flags one pod of many reaching somewhere on one day, not a leader doing so every day', () => {
    const db = addressDest([exact('10.0.20.5/32')], 'vpc');
    const burst = evidence({ sender: 'exact', pods: 1, days: 1 });
    expect(codes(api, db, 5432, burst, ctx)).toContain('single-pod-of-many');
    expect(codes(api, db, 5432, { ...burst, days: 9 }, ctx)).not.toContain('single-pod-of-many');
  });

  it("treats a raw address in rentable cloud space (EC2) as an internet one, not a managed service's", () => {
    const on = (dstClass: string, dstName: string) =>
      codes(api, addressDest([exact('3.248.10.20/32')], dstClass, dstName), 4444, evidence(), ctx);
    expect(on('internet', '')).toContain('raw-ip-unusual-port');
    expect(on('cloud-service', 'EC2 eu-west-1')).toContain('raw-ip-unusual-port');
    expect(on('cloud-service', 'AMAZON eu-west-1')).toContain('raw-ip-unusual-port');
    expect(on('cloud-service', 'S3 eu-west-1')).not.toContain('raw-ip-unusual-port');
  });
});

describe('selectors', () => {
  const lease = (podUid: string, labels: Record<string, string>): Lease => ({
    ip: `10.244.1.${podUid.length}`,
    podUid,
    namespace: 'shop',
    podName: podUid,
    workload: workload('shop', 'Deployment', 'api'),
    node: 'n1',
    hostNetwork: false,
    labels,
    ports: [],
    start: T0,
    end: null,
  });

  it("leaves release labels out, so the next release's pods still match", () => {
    const helm = { app: 'api', 'app.kubernetes.io/version': '1.4.2', 'helm.sh/chart': 'api-0.3.1' };
    const [p] = workloadProfiles([lease('a', helm), lease('bb', helm)]).values();
    expect(p!.selector).toEqual({ app: 'api' });
    // Unless nothing else would select the pods.
    const only = { 'app.kubernetes.io/version': '1.4.2' };
    expect([...workloadProfiles([lease('a', only)]).values()][0]!.selector).toEqual(only);
  });
});
