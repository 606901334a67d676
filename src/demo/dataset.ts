/**
 * The embedded demo dataset: a small cluster observed for two days through VPC flow logs (custom v5 format
 * with both halves of each conversation) and an egress squid, plus a few broken lines to show quarantine.
 * Generated, not stored, so it stays small in the repository and identical on every run.
 */

export interface DemoFile {
  readonly name: string;
  readonly collector: 'vpc-flow' | 'squid';
  readonly text: string;
}

import { mulberry32 } from '../util/prng.js';

const START = Date.UTC(2026, 10, 20) / 1000;

interface Talk {
  readonly src: string;
  readonly dst: string;
  readonly port: number;
  readonly proto: 6 | 17;
  readonly everySeconds: number;
  readonly action?: 'ACCEPT' | 'REJECT';
}

const TALKS: readonly Talk[] = [
  { src: '10.0.1.17', dst: '10.0.20.5', port: 5432, proto: 6, everySeconds: 600 }, // checkout → RDS
  { src: '10.0.1.18', dst: '10.0.20.5', port: 5432, proto: 6, everySeconds: 600 },
  { src: '10.0.1.17', dst: '52.216.146.75', port: 443, proto: 6, everySeconds: 1800 }, // → S3
  { src: '10.0.1.30', dst: '52.216.8.190', port: 443, proto: 6, everySeconds: 3600 },
  { src: '10.0.1.30', dst: '140.82.112.3', port: 443, proto: 6, everySeconds: 7200 }, // → api.github.com
  { src: '10.0.1.41', dst: '10.0.0.2', port: 53, proto: 17, everySeconds: 300 }, // → VPC resolver
  { src: '10.0.0.11', dst: '169.254.169.123', port: 123, proto: 17, everySeconds: 3600 }, // node → NTP
  { src: '10.0.1.66', dst: '203.0.113.66', port: 4444, proto: 6, everySeconds: 21600, action: 'REJECT' },
];

const VPC_FIELDS =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path';

function vpcFlowFile(): string {
  const rnd = mulberry32(7);
  const lines = [VPC_FIELDS];
  for (const t of TALKS) {
    for (let at = START; at < START + 2 * 86400; at += t.everySeconds) {
      const start = at + Math.floor(rnd() * 50);
      const end = start + 60;
      const sport = 32768 + Math.floor(rnd() * 28000);
      const pk = 3 + Math.floor(rnd() * 20);
      const by = pk * (60 + Math.floor(rnd() * 1200));
      const action = t.action ?? 'ACCEPT';
      const common = `vpc-0a1b2c3d subnet-0a1b2c3d i-0123456789abcdef0`;
      lines.push(
        `5 123456789012 eni-0a1b2c3d4e5f60718 ${t.src} ${t.dst} ${sport} ${t.port} ${t.proto} ${pk} ${by} ${start} ${end} ${action} OK ${common} ${t.proto === 6 ? 2 : 0} IPv4 ${t.src} ${t.dst} egress ${t.dst.startsWith('10.') ? 1 : 8}`,
      );
      if (action === 'ACCEPT') {
        const rpk = pk + Math.floor(rnd() * 10);
        lines.push(
          `5 123456789012 eni-0a1b2c3d4e5f60718 ${t.dst} ${t.src} ${t.port} ${sport} ${t.proto} ${rpk} ${rpk * 900} ${start} ${end} ACCEPT OK ${common} ${t.proto === 6 ? 18 : 0} IPv4 ${t.dst} ${t.src} ingress -`,
        );
      }
    }
  }
  lines.push(
    '5 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1763600000 1763600060 - NODATA - - - - - - - - -',
  );
  lines.push(
    '5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.17 not-an-ip 40000 443 6 1 60 1763600000 1763600060 ACCEPT OK',
  );
  return `${lines.join('\n')}\n`;
}

const PROXIED: readonly [client: string, method: string, target: string, everySeconds: number][] = [
  ['10.0.2.21', 'CONNECT', 'api.stripe.com:443', 900],
  ['10.0.2.22', 'CONNECT', 'api.stripe.com:443', 900],
  ['10.0.2.21', 'CONNECT', 'hooks.slack.com:443', 3600],
  ['10.0.2.35', 'GET', 'http://deb.debian.org/debian/dists/bookworm/InRelease', 86400],
  ['10.0.2.35', 'CONNECT', 'registry.npmjs.org:443', 43200],
];

function squidFile(): string {
  const rnd = mulberry32(11);
  const lines: string[] = [];
  for (const [client, method, target, every] of PROXIED) {
    for (let at = START; at < START + 2 * 86400; at += every) {
      const t = at + rnd() * 60;
      const elapsed = 20 + Math.floor(rnd() * 400);
      const bytes = 800 + Math.floor(rnd() * 20000);
      const code = method === 'CONNECT' ? 'TCP_TUNNEL/200' : 'TCP_MISS/200';
      const mime = method === 'CONNECT' ? '-' : 'text/plain';
      lines.push(
        `${t.toFixed(3)} ${String(elapsed).padStart(6)} ${client} ${code} ${bytes} ${method} ${target} - HIER_DIRECT/198.51.100.${10 + Math.floor(rnd() * 5)} ${mime}`,
      );
    }
  }
  lines.push(
    `${(START + 5000).toFixed(3)}      0 10.0.2.66 TCP_DENIED/403 3477 CONNECT pastebin.com:443 - HIER_NONE/- text/html`,
  );
  lines.push(`${(START + 5100).toFixed(3)} garbage line that is not squid`);
  lines.sort();
  return `${lines.join('\n')}\n`;
}

export function demoFiles(): DemoFile[] {
  return [
    { name: 'vpcflow/eni-0a1b2c3d4e5f60718.log', collector: 'vpc-flow', text: vpcFlowFile() },
    { name: 'squid/access.log', collector: 'squid', text: squidFile() },
  ];
}
