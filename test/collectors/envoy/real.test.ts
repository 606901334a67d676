import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvoyLine } from '../../../collectors/envoy/parse.js';
import type { Observation } from '../../../src/model/observation.js';
import type { EnvoyProcess, LocalServer } from '../../helpers/proxies.js';
import {
  connectThrough,
  proxyRequest,
  startEcho,
  startEnvoy,
  startOrigin,
  waitForLines,
} from '../../helpers/proxies.js';

function observationsOf(lines: readonly string[]): Observation[] {
  const out: Observation[] = [];
  for (const line of lines) {
    const r = parseEnvoyLine(line);
    if (r.kind !== 'observation') throw new Error(`${r.kind} (${r.reason}): ${line}`);
    out.push(r.value);
  }
  return out;
}

describe('Envoy 1.40 access logs from a real Envoy', () => {
  let envoy: EnvoyProcess;
  let origin: LocalServer;
  let echo: LocalServer;
  const startedAt = Date.now() / 1000;

  beforeAll(async () => {
    origin = await startOrigin();
    echo = await startEcho();
    envoy = await startEnvoy({ originPort: origin.port, echoPort: echo.port });
    const via = { proxyHost: '127.0.0.1', proxyPort: envoy.port };
    // One request at a time, so the log order is the request order.
    const routed = await proxyRequest({
      ...via,
      path: '/x',
      headers: { host: 'origin.test', 'x-forwarded-for': '10.1.2.3' },
    });
    expect(routed).toEqual({ status: 200, body: 'hello\n' });
    const noRoute = await proxyRequest({ ...via, path: '/', headers: { host: 'nope.test' } });
    expect(noRoute.status).toBe(404);
    const rbac = await proxyRequest({ ...via, path: '/x', headers: { host: 'denied.test' } });
    expect(rbac.status).toBe(403);
    const dead = await proxyRequest({ ...via, path: '/', headers: { host: 'dead.test' } });
    expect(dead.status).toBe(503);
    const tunnel = await connectThrough({
      ...via,
      target: `echo.test:${echo.port}`,
      payload: 'ping through envoy',
    });
    expect(tunnel).toEqual({ status: 200, echoed: 'ping through envoy' });
  });

  afterAll(async () => {
    await envoy?.stop();
    await origin?.close();
    await echo?.close();
  });

  const base = {
    sourceKind: 'envoy',
    protocol: 6,
    direction: 'egress',
    orientation: 'proxy',
    packetsOut: 0,
    packetsIn: 0,
  };

  const names = { accessLog: 'default text', jsonLog: 'JSON', istioLog: "Istio's text" } as const;
  for (const log of ['accessLog', 'jsonLog', 'istioLog'] as const) {
    it(`turns every request in the ${names[log]} log into an observation`, async () => {
      const lines = await waitForLines(envoy[log], (l) => l.length >= 5);
      const obs = observationsOf(lines);
      const json = log === 'jsonLog';
      // The text format has no downstream address: only X-Forwarded-For names a client. Istio's logs the
      // downstream address, which Envoy takes from X-Forwarded-For when there is one (no `use_remote_address`).
      const client = log === 'accessLog' ? null : '127.0.0.1';
      const want = [
        // JSON: the socket peer, not `downstream_remote_address`, which Envoy took from X-Forwarded-For.
        {
          dstHost: 'origin.test',
          dstAddr: '127.0.0.1',
          dstPort: origin.port,
          action: 'accept',
          srcAddr: json ? '127.0.0.1' : '10.1.2.3',
        },
        { dstHost: 'nope.test', dstAddr: null, dstPort: 80, action: 'reject', srcAddr: client },
        { dstHost: 'denied.test', dstAddr: null, dstPort: 80, action: 'reject', srcAddr: client },
        { dstHost: 'dead.test', dstAddr: '127.0.0.1', action: 'accept', srcAddr: client },
        { dstHost: 'echo.test', dstAddr: '127.0.0.1', dstPort: echo.port, action: 'accept', srcAddr: client },
      ];
      expect(obs).toHaveLength(want.length);
      for (let i = 0; i < obs.length; i++) {
        const o = obs[i]!;
        expect(o).toMatchObject({ ...base, ...want[i] });
        expect(o.start).toBeGreaterThanOrEqual(Math.floor(startedAt) - 1);
        expect(o.end).toBeGreaterThanOrEqual(o.start);
        expect(o.end).toBeLessThanOrEqual(Date.now() / 1000 + 1);
        if (json || (log === 'istioLog' && i > 0)) expect(o.srcPort).toBeGreaterThan(0);
      }
      expect(obs[0]!.bytesIn).toBe(6);
      expect(obs[4]!.bytesOut).toBe('ping through envoy'.length);
      expect(obs[4]!.bytesIn).toBe('ping through envoy'.length);
    });
  }
});
