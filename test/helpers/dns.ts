/**
 * Real dnsmasq and CoreDNS processes for the DNS collector tests, and a tiny DNS client over node:dgram. Both
 * servers listen on 127.0.0.1 on a random free port, write into a fresh temp dir and are stopped by their PID.
 * How they were first run by hand, with the gotchas followed here: shared recipes/proxy-and-dns.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, freePort, readText, sleep } from './proxies.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface DnsServer {
  readonly dir: string;
  readonly port: number;
  /** The query log: dnsmasq's --log-facility file, CoreDNS's stdout. */
  readonly log: string;
  /** Reads what the server logged so far (CoreDNS: its stdout, captured live). */
  logText(): Promise<string>;
  stop(): Promise<void>;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

function run(command: string, args: readonly string[], out: string[]): Running {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (b: Buffer) => out.push(b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => out.push(b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return { child, exited };
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  await r.exited;
}

async function waitFor(
  what: string,
  r: Running,
  ready: () => Promise<boolean>,
  output: string[],
): Promise<void> {
  let exit: number | null | undefined;
  void r.exited.then((c) => {
    exit = c;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await ready()) return;
    if (exit !== undefined)
      throw new Error(`${what} exited (${exit}) before it was ready:\n${output.join('')}`);
    if (Date.now() > deadline) {
      await stop(r);
      throw new Error(`${what} not ready after 20 s:\n${output.join('')}`);
    }
    await sleep(25);
  }
}

/**
 * dnsmasq with the recipe's zones: `example.test` → 192.0.2.10, `blocked.test` NXDOMAIN, `db.internal.test`
 * A + AAAA, `alias.internal.test` a CNAME to it, other `internal.test` names NXDOMAIN. `--log-queries=extra`
 * unless `extra` is false.
 */
export async function startDnsmasq(opts: { readonly extra?: boolean } = {}): Promise<DnsServer> {
  const bin = findExecutable('dnsmasq', ['/usr/sbin/dnsmasq']);
  if (bin === null) {
    throw new Error(
      'dnsmasq is not installed: run `bash scripts/setup/coredns.sh` (apt-get install dnsmasq-base)',
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-dnsmasq-'));
  const port = await freePort();
  const log = path.join(dir, 'dnsmasq.log');
  const output: string[] = [];
  const r = run(
    bin,
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${port}`,
      '--pid-file=',
      `--log-facility=${log}`,
      opts.extra === false ? '--log-queries' : '--log-queries=extra',
      '--local-ttl=300',
      '--address=/example.test/192.0.2.10',
      '--address=/blocked.test/',
      '--host-record=db.internal.test,192.0.2.20,2001:db8::20',
      '--cname=alias.internal.test,db.internal.test',
      '--local=/internal.test/',
    ],
    output,
  );
  await waitFor('dnsmasq', r, async () => (await readText(log)).includes('started, version'), output);
  return {
    dir,
    port,
    log,
    logText: () => readText(log),
    async stop() {
      await stop(r);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The CoreDNS binary `scripts/setup/coredns.sh` builds, then `$COREDNS_BIN`, then PATH. */
function corednsBinary(): string | null {
  const candidates = [path.join(REPO, '.cache/coredns/coredns')];
  const fromEnv = process.env['COREDNS_BIN'];
  if (fromEnv !== undefined && fromEnv.length > 0) candidates.unshift(fromEnv);
  return findExecutable('coredns', candidates);
}

/**
 * CoreDNS with the recipe's Corefile: `internal.test` from `hosts` (db.internal.test A + AAAA, TTL 300; a miss is
 * SERVFAIL, logged `- - 0`) with the default log format, and `tmpl.test` from `template` (A 192.0.2.10, AAAA
 * NXDOMAIN) with the custom format `{remote}:{port} {type} {name} {rcode} {>rflags} {duration}`, and `comb.test`
 * from `hosts` (api.comb.test A) with `{combined}`, which adds the opcode.
 */
export async function startCoredns(): Promise<DnsServer> {
  const bin = corednsBinary();
  if (bin === null) {
    throw new Error(
      'coredns is not built: run `bash scripts/setup/coredns.sh` (go install into .cache/coredns)',
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-coredns-'));
  const port = await freePort();
  const log = path.join(dir, 'coredns.log');
  const conf = path.join(dir, 'Corefile');
  // Block braces must end a line: `template … { answer … }` on one line is a parse error.
  await writeFile(
    conf,
    [
      `internal.test:${port} {`,
      '    bind 127.0.0.1',
      '    hosts {',
      '        192.0.2.20 db.internal.test',
      '        2001:db8::20 db.internal.test',
      '        ttl 300',
      '    }',
      '    log',
      '    errors',
      '}',
      `tmpl.test:${port} {`,
      '    bind 127.0.0.1',
      '    template IN A tmpl.test {',
      '        answer "{{ .Name }} 60 IN A 192.0.2.10"',
      '    }',
      '    template IN AAAA tmpl.test {',
      '        rcode NXDOMAIN',
      '    }',
      '    log . "{remote}:{port} {type} {name} {rcode} {>rflags} {duration}"',
      '}',
      `comb.test:${port} {`,
      '    bind 127.0.0.1',
      '    hosts {',
      '        192.0.2.30 api.comb.test',
      '    }',
      '    log . {combined}',
      '}',
      '',
    ].join('\n'),
  );
  const output: string[] = [];
  const r = run(bin, ['-conf', conf], output);
  await waitFor('coredns', r, async () => output.join('').includes('CoreDNS-'), output);
  const text = async (): Promise<string> => output.join('');
  return {
    dir,
    port,
    log,
    logText: text,
    async stop() {
      await stop(r);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes what a server logged to its `log` path (CoreDNS logs to stdout) and returns the lines. */
export async function saveLog(server: DnsServer): Promise<string[]> {
  const text = await server.logText();
  await writeFile(server.log, text);
  return text.split('\n').filter((l) => l.length > 0);
}

export const QTYPES = { A: 1, CNAME: 5, AAAA: 28 } as const;

/** A DNS query packet (RFC 1035 §4.1), recursion desired, one question of class IN. */
export function queryPacket(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0);
  const qname = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, qname, tail]);
}

/** Sends one query over UDP to 127.0.0.1:port and returns the rcode of the reply (0 NOERROR, 3 NXDOMAIN, …). */
export function query(port: number, name: string, type: number, timeoutMs = 3000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 0xffff);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no DNS reply for ${name} from 127.0.0.1:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('message', (msg) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      socket.close();
      resolve(msg.readUInt16BE(2) & 0x0f);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.send(queryPacket(id, name, type), port, '127.0.0.1');
  });
}
