import { describe, expect, it } from 'vitest';
import { ConnectionSet } from '../../src/audit/connection-set.js';
import { PortSet } from '../../src/audit/port-set.js';

const ranges = (s: PortSet): [number, number][] => s.ranges.map((r) => [r.start, r.end]);

describe('PortSet', () => {
  it('merges overlapping and adjacent ranges into maximal ones', () => {
    const s = PortSet.fromRanges([
      { start: 8081, end: 8082 },
      { start: 80, end: 80 },
      { start: 8080, end: 8080 },
      { start: 8083, end: 8090 },
      { start: 85, end: 85 },
    ]);
    expect(ranges(s)).toEqual([
      [80, 80],
      [85, 85],
      [8080, 8090],
    ]);
    expect(PortSet.format(s)).toBe('80,85,8080-8090');
  });

  it('clips to 1..65535 and drops reversed ranges', () => {
    expect(ranges(PortSet.range(0, 10))).toEqual([[1, 10]]);
    expect(PortSet.isEmpty(PortSet.range(10, 9))).toBe(true);
    expect(
      PortSet.isAll(
        PortSet.fromRanges([
          { start: 1, end: 100 },
          { start: 101, end: 65535 },
        ]),
      ),
    ).toBe(true);
  });

  it('intersects range by range', () => {
    const a = PortSet.fromRanges([
      { start: 1, end: 100 },
      { start: 200, end: 300 },
    ]);
    const b = PortSet.fromRanges([
      { start: 50, end: 250 },
      { start: 300, end: 400 },
    ]);
    expect(ranges(PortSet.intersect(a, b))).toEqual([
      [50, 100],
      [200, 250],
      [300, 300],
    ]);
    expect(PortSet.isEmpty(PortSet.intersect(PortSet.range(1, 10), PortSet.range(11, 20)))).toBe(true);
  });

  it('answers membership at range edges', () => {
    const s = PortSet.range(8080, 8082);
    expect([8079, 8080, 8082, 8083].map((p) => PortSet.contains(s, p))).toEqual([false, true, true, false]);
  });
});

describe('ConnectionSet', () => {
  it('prints All Connections only when every port of all three protocols is in', () => {
    expect(ConnectionSet.format(ConnectionSet.ALL)).toBe('All Connections');
    const tcpAll = ConnectionSet.of('TCP', PortSet.ALL);
    expect(ConnectionSet.format(tcpAll)).toBe('TCP 1-65535');
    expect(ConnectionSet.allowed(tcpAll)).toEqual([{ protocol: 'TCP', port: 1, endPort: 65535 }]);
  });

  it('orders protocols by name and ports ascending', () => {
    const s = ConnectionSet.union(
      ConnectionSet.union(
        ConnectionSet.of('UDP', PortSet.range(9090)),
        ConnectionSet.of('TCP', PortSet.range(8081)),
      ),
      ConnectionSet.union(
        ConnectionSet.of('TCP', PortSet.range(8080)),
        ConnectionSet.of('SCTP', PortSet.range(7070)),
      ),
    );
    expect(ConnectionSet.format(s)).toBe('SCTP 7070,TCP 8080-8081,UDP 9090');
    expect(ConnectionSet.allowed(s)).toEqual([
      { protocol: 'SCTP', port: 7070 },
      { protocol: 'TCP', port: 8080, endPort: 8081 },
      { protocol: 'UDP', port: 9090 },
    ]);
  });

  it('intersects per protocol', () => {
    const egress = ConnectionSet.union(
      ConnectionSet.of('TCP', PortSet.range(1, 1000)),
      ConnectionSet.of('UDP', PortSet.range(53)),
    );
    const ingress = ConnectionSet.of('TCP', PortSet.range(443));
    expect(ConnectionSet.format(ConnectionSet.intersect(egress, ingress))).toBe('TCP 443');
    expect(
      ConnectionSet.isEmpty(ConnectionSet.intersect(egress, ConnectionSet.of('SCTP', PortSet.ALL))),
    ).toBe(true);
  });
});
