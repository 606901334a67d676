import { describe, expect, it } from 'vitest';
import {
  cutFamily,
  formatRange,
  parseCidrRange,
  rangeWithin,
  subtractRanges,
  wholeFamily,
  type IpRange,
} from '../../src/audit/ip-range.js';

const cidr = (text: string): IpRange => {
  const r = parseCidrRange(text);
  if (r === null) throw new Error(`bad test CIDR ${text}`);
  return r;
};

describe('IP ranges', () => {
  it('reads a CIDR as an inclusive range, masking host bits', () => {
    expect(formatRange(cidr('10.0.0.0/8'))).toBe('10.0.0.0-10.255.255.255');
    expect(formatRange(cidr('10.1.2.3/16'))).toBe('10.1.0.0-10.1.255.255');
    expect(formatRange(cidr('0.0.0.0/0'))).toBe('0.0.0.0-255.255.255.255');
    expect(formatRange(cidr('192.168.1.7/32'))).toBe('192.168.1.7-192.168.1.7');
    expect(formatRange(cidr('2001:db8::/32'))).toBe('2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  });

  it('refuses what is not a CIDR', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0/8', 'x/8', '10.0.0.0/-1', '::/129']) {
      expect(parseCidrRange(bad)).toBeNull();
    }
  });

  it('subtracts excepts, leaving the pieces around them', () => {
    const left = subtractRanges([cidr('10.0.0.0/8')], [cidr('10.1.0.0/16'), cidr('10.255.0.0/16')]);
    expect(left.map(formatRange)).toEqual(['10.0.0.0-10.0.255.255', '10.2.0.0-10.254.255.255']);
    expect(subtractRanges([cidr('10.0.0.0/8')], [cidr('10.0.0.0/8')])).toEqual([]);
    expect(subtractRanges([cidr('10.0.0.0/8')], [cidr('2001:db8::/32')]).map(formatRange)).toEqual([
      '10.0.0.0-10.255.255.255',
    ]);
  });

  it('a range matches only when it lies wholly inside', () => {
    const block = subtractRanges([cidr('10.0.0.0/8')], [cidr('10.1.0.0/16')]);
    expect(rangeWithin(cidr('10.0.0.0/16'), block)).toBe(true);
    expect(rangeWithin(cidr('10.1.2.0/24'), block)).toBe(false);
    expect(rangeWithin(cidr('10.0.0.0/8'), block)).toBe(false);
  });

  it('cuts the address space at every range start and end + 1', () => {
    const pieces = cutFamily(4, [cidr('10.0.0.0/8'), cidr('172.21.0.0/16')]);
    expect(pieces.map(formatRange)).toEqual([
      '0.0.0.0-9.255.255.255',
      '10.0.0.0-10.255.255.255',
      '11.0.0.0-172.20.255.255',
      '172.21.0.0-172.21.255.255',
      '172.22.0.0-255.255.255.255',
    ]);
    expect(cutFamily(4, []).map(formatRange)).toEqual([formatRange(wholeFamily(4))]);
    expect(cutFamily(4, [cidr('0.0.0.0/0')])).toHaveLength(1);
  });
});
