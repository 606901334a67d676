import { describe, expect, it } from 'vitest';
import { Holders, NameIndex } from '../../src/infer/names.js';
import type { Lease } from '../../src/model/workload.js';
import type { AddressAnswer } from '../../src/store/infer-query.js';

const T0 = Date.UTC(2026, 10, 1) / 1000;
const IP = '10.0.16.7';

function lease(workload: string, start: number, end: number | null): Lease {
  return {
    ip: IP,
    podUid: `${workload}-pod`,
    namespace: 'shop',
    podName: `${workload}-pod`,
    workload: { cluster: '', namespace: 'shop', kind: 'Deployment', name: workload },
    node: 'node-a',
    hostNetwork: false,
    labels: { app: workload },
    ports: [],
    start,
    end,
  };
}

function answer(firstSeen: number, lastSeen: number): AddressAnswer {
  return {
    bucket: Math.floor(firstSeen / 3600) * 3600,
    client: IP,
    name: 'assets.example.com',
    answer: '205.251.193.4',
    count: 2,
    firstSeen,
    lastSeen,
    minTtl: 60,
  };
}

describe('DNS askers over reused pod addresses', () => {
  it('gives an address to the pod that started later when two leases claim the same instant', () => {
    // cart's end was only noticed at the next snapshot, hours after report took its address.
    const holders = new Holders(
      [lease('cart', T0 - 86_400, T0 + 7200), lease('report', T0 + 1800, null)],
      new Map(),
    );
    expect(holders.leaseAt(IP, T0 + 3000)?.workload.name).toBe('report');
    expect(holders.leaseAt(IP, T0 + 600)?.workload.name).toBe('cart');
  });

  it('gives an open lease back the range after a later lease inside it ended, as leaseAt does', () => {
    const holders = new Holders([lease('cart', T0, null), lease('report', T0 + 10, T0 + 20)], new Map());
    expect(
      holders.holdersOver(IP, T0, T0 + 30).map((h) => [h.lease.workload.name, h.first - T0, h.last - T0]),
    ).toEqual([
      ['cart', 0, 10],
      ['report', 10, 20],
      ['cart', 20, 30],
    ]);
    expect(holders.leaseAt(IP, T0 + 25)?.workload.name).toBe('cart');
    expect(holders.holdersOver(IP, T0 - 50, T0 - 10)).toEqual([]);
  });

  it('credits the questions of one DNS row to each pod that held the asking address during it', () => {
    // One hourly row: cart asked at T0+100, then its address went to report, which asked at T0+3000.
    const holders = new Holders(
      [lease('cart', T0 - 86_400, T0 + 1800), lease('report', T0 + 1900, null)],
      new Map(),
    );
    const index = new NameIndex([answer(T0 + 100, T0 + 3000)], [], holders, 600);
    const early = index.namesFor('205.251.193.4', T0 + 200, T0 + 260, null, 'node-a');
    expect([...(early?.byName.get('assets.example.com')?.askers ?? [])]).toEqual(['shop/Deployment/cart']);
    const own = index.namesFor('205.251.193.4', T0 + 200, T0 + 260, 'shop/Deployment/cart', '');
    expect(own?.evidence).toBe('dns');
    const late = index.namesFor('205.251.193.4', T0 + 3100, T0 + 3160, null, 'node-a');
    expect([...(late?.byName.get('assets.example.com')?.askers ?? [])].sort()).toEqual([
      'shop/Deployment/report',
    ]);
  });
});
