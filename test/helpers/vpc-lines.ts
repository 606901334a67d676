/**
 * Default-format (version 2) VPC flow log records for tests: request halves from pods to a few servers and
 * the matching reply halves, deterministic in `i`.
 */
export const V2_HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

export const T0 = 1_763_596_800; // 2025-11-20T00:00:00Z

export function vpcRecord(i: number): string {
  const src = `10.0.${(i >> 4) & 7}.${(i & 15) + 10}`;
  const dst = ['52.216.10.5', '140.82.112.3', '10.0.20.5'][i % 3]!;
  const port = [443, 443, 5432][i % 3]!;
  const sport = 32768 + (i % 20000);
  const start = T0 + (i % 86400);
  const action = i % 97 === 0 ? 'REJECT' : 'ACCEPT';
  const req = `2 123456789012 eni-0a1b2c3d4e5f60718 ${src} ${dst} ${sport} ${port} 6 ${(i % 9) + 1} ${(i % 900) + 60} ${start} ${start + 60} ${action} OK`;
  if (action === 'REJECT' || i % 2 === 0) return req;
  return `2 123456789012 eni-0a1b2c3d4e5f60718 ${dst} ${src} ${port} ${sport} 6 ${(i % 7) + 1} ${(i % 1500) + 60} ${start} ${start + 60} ACCEPT OK`;
}

export function vpcFile(n: number, withHeader = true): string {
  const lines: string[] = withHeader ? [V2_HEADER] : [];
  for (let i = 0; i < n; i++) lines.push(vpcRecord(i));
  return `${lines.join('\n')}\n`;
}

/** Sum of the bytes field over records 0..n-1 (what the edges must add up to). */
export function vpcBytes(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Number(vpcRecord(i).split(' ')[9]);
  return s;
}
