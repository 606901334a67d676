import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes, cidrContains, parseCidr } from '../../src/model/cidr.js';
import { canonicalIp, ipv4Number, ipv4Text, isPrivateIp } from '../../src/model/ip.js';

describe('canonicalIp', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:10.0.0.1', '10.0.0.1'],
    ['::fffe:c000:201', '::fffe:c000:201'],
    ['::', '::'],
    ['fe80::1', 'fe80::1'],
  ])('writes %s as %s', (input, want) => expect(canonicalIp(input)).toBe(want));

  it.each([
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    '',
    'a.b.c.d',
    '2001:db8::1::2',
    'fe80::1%eth0',
    ':::',
  ])('refuses %j', (input) => expect(canonicalIp(input)).toBeNull());

  it('round-trips any IPv4 and IPv6 address', () => {
    fc.assert(fc.property(fc.ipV4(), (ip) => canonicalIp(ip) === ip));
    fc.assert(
      fc.property(
        fc.ipV6(),
        (ip) => canonicalIp(ip) !== null && canonicalIp(canonicalIp(ip)!) === canonicalIp(ip),
      ),
    );
  });
});

describe('ipv4Number', () => {
  it('is the number ipv4Text writes back, for any address', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => ipv4Number(ipv4Text(n)) === n));
  });

  it.each(['010.0.0.1', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.4 ', '', '::1', '1.2.3.-4'])(
    'refuses %j',
    (input) => expect(ipv4Number(input)).toBeNull(),
  );
});

describe('isPrivateIp', () => {
  it.each([
    ['10.1.2.3', true],
    ['172.15.255.255', false],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['100.64.0.1', true],
    ['100.63.255.255', false],
    ['100.127.255.255', true],
    ['100.128.0.1', false],
    ['169.253.255.255', false],
    ['169.255.0.0', false],
    ['192.167.255.255', false],
    ['192.169.0.0', false],
    ['9.255.255.255', false],
    ['11.0.0.0', false],
    ['1.0.0.0', false],
    ['169.254.169.254', true],
    ['52.216.10.5', false],
    ['8.8.8.8', false],
    ['fd00::1', true],
    ['fc::1', false],
    ['fe80::1', true],
    ['febf::1', true],
    ['fec0::1', false],
    ['::1', true],
    ['2001:db8::1', false],
    // Multicast and broadcast never route on the internet either (mDNS, SSDP, DHCP).
    ['224.0.0.251', true],
    ['239.255.255.250', true],
    ['255.255.255.255', true],
    ['223.255.255.255', false],
    ['0.0.0.0', true],
    ['ff02::fb', true],
    ['fe00::1', false],
  ])('%s is private: %s', (ip, want) => expect(isPrivateIp(ip)).toBe(want));
});

describe('CIDR', () => {
  it('contains exactly the addresses of its prefix', () => {
    const block = parseCidr('10.0.0.0/12')!;
    expect(cidrContains(block, addressBytes('10.15.255.255')!)).toBe(true);
    expect(cidrContains(block, addressBytes('10.16.0.0')!)).toBe(false);
    expect(cidrContains(parseCidr('2001:db8::/32')!, addressBytes('2001:db8:ffff::1')!)).toBe(true);
    expect(cidrContains(parseCidr('2001:db8::/32')!, addressBytes('10.0.0.1')!)).toBe(false);
  });

  it('refuses host bits, bad prefixes and non-addresses', () => {
    expect(parseCidr('10.0.0.1/8')).toBeNull();
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('example.com/8')).toBeNull();
    expect(parseCidr('10.0.0.0/08x')).toBeNull();
  });
});
