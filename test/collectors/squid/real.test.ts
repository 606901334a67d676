import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSquidLine } from '../../../collectors/squid/parse.js';
import type { Observation } from '../../../src/model/observation.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';
import type { LocalServer, SquidProcess } from '../../helpers/proxies.js';
import {
  connectThrough,
  proxyRequest,
  startEcho,
  startOrigin,
  startSquid,
  waitForLines,
} from '../../helpers/proxies.js';

/** The observations of a log, failing on any line that is neither an observation nor an expected skip. */
function observationsOf(lines: readonly string[]): Observation[] {
  const out: Observation[] = [];
  for (const line of lines) {
    const r: ParseOutcome = parseSquidLine(line);
    if (r.kind === 'reject') throw new Error(`rejected (${r.reason}): ${line}`);
    if (r.kind === 'observation') out.push(r.value);
  }
  return out;
}

describe('squid 5 access logs from a real squid', () => {
  let squid: SquidProcess;
  let origin: LocalServer;
  let echo: LocalServer;
  const startedAt = Date.now() / 1000;

  beforeAll(async () => {
    origin = await startOrigin();
    echo = await startEcho();
    squid = await startSquid({ hosts: ['origin.test', 'echo.test'] });

    const viaV4 = { proxyHost: '127.0.0.1', proxyPort: squid.port };
    const viaV6 = { proxyHost: '::1', proxyPort: squid.port };
    // A quote in the user agent: squid's combined format does not escape it.
    const named = await proxyRequest({
      ...viaV4,
      path: `http://origin.test:${origin.port}/x`,
      headers: { 'user-agent': 'egress "learner" test', referer: 'http://ref.test/' },
    });
    expect(named).toEqual({ status: 200, body: 'hello\n' });
    const literal = await proxyRequest({ ...viaV6, path: `http://127.0.0.1:${origin.port}/missing` });
    expect(literal.status).toBe(404);
    const denied = await proxyRequest({ ...viaV4, path: 'http://foo.blocked.test/' });
    expect(denied.status).toBe(403);
    const tunnel = await connectThrough({
      ...viaV4,
      target: `echo.test:${echo.port}`,
      payload: 'ping through squid',
    });
    expect(tunnel).toEqual({ status: 200, echoed: 'ping through squid' });
    const deniedTunnel = await connectThrough({ ...viaV4, target: 'foo.blocked.test:443', payload: 'x' });
    expect(deniedTunnel.status).toBe(403);
  });

  afterAll(async () => {
    await squid?.stop();
    await origin?.close();
    await echo?.close();
  });

  /** In order of the requests; only the native format logs the peer address that gives a named dstAddr. */
  const expected = (native: boolean) => {
    const base = {
      sourceKind: 'squid',
      srcPort: null,
      protocol: 6,
      direction: 'egress',
      orientation: 'proxy',
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
    };
    return [
      {
        ...base,
        srcAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstAddr: native ? '127.0.0.1' : null,
        dstPort: origin.port,
        action: 'accept',
      },
      {
        ...base,
        srcAddr: '::1',
        dstHost: null,
        dstAddr: '127.0.0.1',
        dstPort: origin.port,
        action: 'accept',
      },
      {
        ...base,
        srcAddr: '127.0.0.1',
        dstHost: 'foo.blocked.test',
        dstAddr: null,
        dstPort: 80,
        action: 'reject',
      },
      {
        ...base,
        srcAddr: '127.0.0.1',
        dstHost: 'echo.test',
        dstAddr: native ? '127.0.0.1' : null,
        dstPort: echo.port,
        action: 'accept',
      },
      {
        ...base,
        srcAddr: '127.0.0.1',
        dstHost: 'foo.blocked.test',
        dstAddr: null,
        dstPort: 443,
        action: 'reject',
      },
    ];
  };

  for (const log of ['accessLog', 'commonLog', 'combinedLog'] as const) {
    it(`turns every request in the ${log.replace('Log', '')} log into an observation`, async () => {
      const lines = await waitForLines(squid[log], (l) => l.length >= 5);
      const obs = observationsOf(lines);
      expect(obs).toHaveLength(5);
      const want = expected(log === 'accessLog');
      for (let i = 0; i < obs.length; i++) {
        const o = obs[i]!;
        expect(o).toMatchObject(want[i]!);
        expect(o.bytesIn).toBeGreaterThan(0);
        expect(o.end).toBeGreaterThanOrEqual(Math.floor(startedAt) - 1);
        expect(o.end).toBeLessThanOrEqual(Date.now() / 1000 + 1);
        expect(o.start).toBeLessThanOrEqual(o.end);
      }
    });
  }
});
