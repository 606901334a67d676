/**
 * The generated squid fragment in a real squid (shared recipes/proxy-and-dns.md): learned host:port pairs pass,
 * through CONNECT and as plain requests; anything else gets 403 from squid itself. Names resolve to 127.0.0.1
 * through a hosts_file, and the targets are loopback origin and echo servers on free ports.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitSquidConf } from '../../src/emit/squid-conf.js';
import type { LocalServer } from '../helpers/proxies.js';
import {
  connectThrough,
  findExecutable,
  freePort,
  proxyRequest,
  readText,
  sleep,
  startEcho,
  startOrigin,
  waitForLines,
} from '../helpers/proxies.js';
import { addressDest, endpoint, exact, hostDest, result, sender, workload } from '../helpers/inference.js';

const HOSTS = [
  'allowed.test',
  'api.apps.test',
  'deep.api.apps.test',
  'apps.test',
  'xapps.test',
  'api.apps.test.other.test',
  'api.allowed.test',
  'tunnel.test',
  'notallowed.test',
  'other.test',
  'evil.test',
  'rare.test',
  'rejected.test',
];

interface Squid {
  readonly port: number;
  readonly accessLog: string;
  stop(): Promise<void>;
}

/** `proxy`'s uid/gid: as root squid drops to it, and it must be able to write the logs. */
async function proxyIds(): Promise<{ uid: number; gid: number }> {
  for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const f = line.split(':');
    if (f[0] === 'proxy') return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error('no `proxy` user: run `bash scripts/setup/squid.sh`');
}

/** A minimal squid.conf around the fragment: loopback port, no cache, hosts_file, logs in the temp dir. */
async function startSquidWith(fragment: string): Promise<Squid & { parseOutput: string }> {
  const squid = findExecutable('squid', ['/usr/sbin/squid']);
  if (squid === null) throw new Error('squid is not installed: run `bash scripts/setup/squid.sh` first');
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-squid-emit-'));
  const port = await freePort();
  const conf = path.join(dir, 'squid.conf');
  const cacheLog = path.join(dir, 'cache.log');
  const accessLog = path.join(dir, 'access.log');
  await writeFile(path.join(dir, 'egress.conf'), fragment);
  await writeFile(path.join(dir, 'hosts'), `127.0.0.1 ${HOSTS.join(' ')}\n`);
  await writeFile(
    conf,
    [
      'cache_effective_user proxy',
      `http_port 127.0.0.1:${port}`,
      'visible_hostname squid-emit-test.local',
      `pid_filename ${dir}/squid.pid`,
      `cache_log ${cacheLog}`,
      `access_log stdio:${accessLog} squid`,
      'logfile_rotate 0',
      'buffered_logs off',
      `coredump_dir ${dir}`,
      'netdb_filename none',
      'pinger_enable off',
      'cache deny all',
      'cache_mem 0 MB',
      `hosts_file ${dir}/hosts`,
      'dns_nameservers 127.0.0.1',
      'dns_timeout 1 seconds',
      'dns_retransmit_interval 1 seconds',
      'shutdown_lifetime 0 seconds',
      // No http_access of our own: the fragment decides alone, and ends with `deny all`.
      `include ${dir}/egress.conf`,
      '',
    ].join('\n'),
  );
  if (process.getuid?.() === 0) {
    const { uid, gid } = await proxyIds();
    for (const f of ['', 'hosts', 'squid.conf', 'egress.conf']) await chown(path.join(dir, f), uid, gid);
  }
  const parsed = spawnSync(squid, ['-k', 'parse', '-f', conf], { encoding: 'utf8' });
  const parseOutput = `${parsed.stdout}${parsed.stderr}`;
  const child = spawn(squid, ['-N', '-n', `eglemit${process.pid}`, '-f', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 20_000;
  while (!(await readText(cacheLog)).includes('Accepting HTTP Socket connections')) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`squid did not start:\n${parseOutput}\n${await readText(cacheLog)}`);
    }
    await sleep(25);
  }
  return {
    port,
    accessLog,
    parseOutput,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('the generated squid fragment in a real squid', () => {
  let origin: LocalServer;
  let echo: LocalServer;
  let squid: Squid & { parseOutput: string };
  let fragment = '';

  beforeAll(async () => {
    origin = await startOrigin();
    echo = await startEcho();
    const web = sender(workload('shop', 'Deployment', 'web'));
    const worker = sender(workload('jobs', 'CronJob', 'sync'));
    const o = origin.port;
    const e = echo.port;
    const eps = [
      endpoint(web, hostDest('allowed.test'), { id: 'exact-origin', port: o, via: 'proxy' }),
      endpoint(web, hostDest('*.apps.test', [], ['api.apps.test', 'deep.api.apps.test']), {
        id: 'wild-origin',
        port: o,
      }),
      endpoint(worker, hostDest('*.allowed.test', [], ['api.allowed.test']), { id: 'wild-echo', port: e }),
      endpoint(worker, hostDest('tunnel.test'), { id: 'exact-echo', port: e, via: 'proxy' }),
      // A request the proxy logged to an address: its literal is the target.
      endpoint(worker, addressDest([exact('127.0.0.1/32')]), { id: 'address-echo', port: e, via: 'proxy' }),
      endpoint(web, hostDest('evil.test'), {
        id: 'suspicious',
        port: o,
        suspicions: [{ code: 'high-entropy-name', detail: 'test' }],
      }),
      endpoint(web, hostDest('rare.test'), { id: 'rare', port: o, rare: true }),
      endpoint(web, hostDest('rejected.test'), { id: 'rejected', port: o }),
    ];
    const files = emitSquidConf(result([web, worker], eps), {
      scope: 'namespace',
      accepted: new Set(),
      rejected: new Set(['rejected']),
    });
    fragment = files[0]!.content;
    squid = await startSquidWith(fragment);
  });

  afterAll(async () => {
    await squid?.stop();
    await origin?.close();
    await echo?.close();
  });

  /** A request that squid let through to the echo may never get an HTTP answer: count that as status 0. */
  const within = <T extends { status: number }>(p: Promise<T>): Promise<T | { status: 0 }> =>
    Promise.race([p, sleep(5_000).then(() => ({ status: 0 as const }))]);
  const via = () => ({ proxyHost: '127.0.0.1', proxyPort: squid.port });
  const get = (host: string, port: number) => proxyRequest({ ...via(), path: `http://${host}:${port}/x` });
  const tunnel = (host: string, port: number) =>
    connectThrough({ ...via(), target: `${host}:${port}`, payload: 'ping through squid' });

  it('parses without a warning', () => {
    expect(squid.parseOutput).toContain('egress.conf (depth 1)');
    expect(squid.parseOutput).not.toMatch(/WARNING|ERROR|FATAL/);
  });

  it('lets plain requests to learned host:port pairs through', async () => {
    expect(await get('allowed.test', origin.port)).toEqual({ status: 200, body: 'hello\n' });
    expect(await get('api.apps.test', origin.port)).toEqual({ status: 200, body: 'hello\n' });
    expect(await get('deep.api.apps.test', origin.port)).toEqual({ status: 200, body: 'hello\n' });
  });

  it('lets CONNECT to learned host:port pairs through', async () => {
    expect(await tunnel('api.allowed.test', echo.port)).toEqual({
      status: 200,
      echoed: 'ping through squid',
    });
    expect(await tunnel('tunnel.test', echo.port)).toEqual({ status: 200, echoed: 'ping through squid' });
    expect((await tunnel('allowed.test', origin.port)).status).toBe(200);
    expect(await tunnel('127.0.0.1', echo.port)).toEqual({ status: 200, echoed: 'ping through squid' });
  });

  it('denies everything else with 403', async () => {
    const o = origin.port;
    const e = echo.port;
    const denied: [string, () => Promise<{ status: number }>][] = [
      ['unlearned host', () => get('other.test', o)],
      ['learned host, other port', () => get('allowed.test', e)],
      ['learned host, other port (CONNECT)', () => tunnel('tunnel.test', o)],
      ['wildcard learned on another port', () => tunnel('api.allowed.test', o)],
      ['apex of a wildcard', () => get('apps.test', o)],
      ['apex of a wildcard (CONNECT)', () => tunnel('allowed.test', e)],
      ['sibling domain', () => get('notallowed.test', o)],
      ['sibling of a wildcard', () => get('xapps.test', o)],
      ['wildcard name as a prefix of another domain', () => get('api.apps.test.other.test', o)],
      ['suspicious, commented out', () => get('evil.test', o)],
      ['rare, not enabled', () => get('rare.test', o)],
      ['rejected in review', () => get('rejected.test', o)],
      ['IP literal of a learned name', () => get('127.0.0.1', o)],
    ];
    const got: Record<string, number> = {};
    for (const [what, send] of denied) got[what] = (await within(send())).status;
    expect(got).toEqual(Object.fromEntries(denied.map(([what]) => [what, 403])));
    // squid itself refused them: they never reached the origin.
    const lines = await waitForLines(
      squid.accessLog,
      (l) => l.filter((x) => x.includes('TCP_DENIED/403')).length >= denied.length,
    );
    expect(lines.filter((x) => x.includes('TCP_DENIED/403'))).toHaveLength(denied.length);
  });
});
