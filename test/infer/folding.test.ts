import { describe, expect, it } from 'vitest';
import { foldAddresses, rotates, type PublishedPrefix } from '../../src/infer/fold-addresses.js';
import { foldNames, registrableDomain } from '../../src/infer/fold-names.js';
import { entropy, highEntropyLabel } from '../../src/infer/suspicion.js';
import { PrefixTable } from '../../src/identity/prefix-table.js';
import { parseCidr } from '../../src/model/cidr.js';

function table(list: PublishedPrefix[] = []): PrefixTable<PublishedPrefix> {
  const t = new PrefixTable<PublishedPrefix>();
  for (const p of list) t.add(parseCidr(p.cidr)!, p);
  return t;
}

const sightings = (pairs: [string, number[]][]) => new Map(pairs.map(([a, b]) => [a, new Set(b)]));

describe('rotation', () => {
  it('tells a fixed set of answers from a rotating one', () => {
    expect(
      rotates(
        sightings([
          ['1.1.1.1', [1, 2, 3]],
          ['1.1.1.2', [1, 2, 3]],
        ]),
      ).rotating,
    ).toBe(false);
    expect(
      rotates(
        sightings([
          ['1.1.1.1', [1]],
          ['1.1.1.2', [2]],
        ]),
      ).rotating,
    ).toBe(false);
    expect(
      rotates(
        sightings([
          ['1.1.1.1', [1]],
          ['1.1.1.2', [2]],
          ['1.1.1.3', [3]],
        ]),
      ),
    ).toEqual({
      rotating: true,
      distinct: 3,
      maxAtOnce: 1,
    });
  });
});

describe('address folding', () => {
  const opts = { published: table(), maxPrefix4: 16, maxPrefix6: 48 };

  it('covers rotating addresses per budget-sized block and leaves a lone one exact', () => {
    const s = sightings([
      ['10.1.2.3', [1]],
      ['10.1.2.200', [2]],
      ['10.1.3.9', [3]],
      ['172.20.0.1', [4]],
    ]);
    expect(foldAddresses(s, opts).map((c) => [c.cidr, c.basis, c.addresses])).toEqual([
      ['10.1.2.0/23', 'observed', 3],
      ['172.20.0.1/32', 'exact', 1],
    ]);
  });

  it('prefers the most specific published prefix, but never one wider than the budget', () => {
    const s = sightings([
      ['52.216.1.1', [1]],
      ['52.216.77.2', [2]],
      ['52.217.3.3', [3]],
    ]);
    const published = table([
      { cidr: '52.216.0.0/15', service: 'S3', region: 'us-east-1' },
      { cidr: '52.216.0.0/15', service: 'AMAZON', region: 'us-east-1' },
    ]);
    expect(foldAddresses(s, { ...opts, published, maxPrefix4: 15 }).map((c) => [c.cidr, c.provider])).toEqual(
      [['52.216.0.0/15', 'S3 us-east-1']],
    );
    const narrow = foldAddresses(s, { ...opts, published, maxPrefix4: 20 });
    expect(narrow.every((c) => c.basis !== 'published' && Number(c.cidr.split('/')[1]) >= 20)).toBe(true);
  });

  it('opens only the block of a wide published prefix that many rotating addresses were drawn from', () => {
    const published = table([{ cidr: '205.251.192.0/19', service: 'CLOUDFRONT', region: 'GLOBAL' }]);
    // 40 hourly answers, all inside 205.251.200.0/22, an eighth of the published /19.
    const many = sightings(
      Array.from({ length: 40 }, (_, i): [string, number[]] => [
        `205.251.${200 + (i % 4)}.${(i * 37) % 250}`,
        [i],
      ]),
    );
    expect(foldAddresses(many, { ...opts, published }).map((c) => [c.cidr, c.basis, c.provider])).toEqual([
      ['205.251.200.0/22', 'observed', 'CLOUDFRONT GLOBAL'],
    ]);
    // Three addresses in one /22 could have come from anywhere in the /19: it stays whole.
    const few = sightings([
      ['205.251.200.1', [1]],
      ['205.251.201.9', [2]],
      ['205.251.203.7', [3]],
    ]);
    expect(foldAddresses(few, { ...opts, published }).map((c) => [c.cidr, c.basis])).toEqual([
      ['205.251.192.0/19', 'published'],
    ]);
  });

  it('folds IPv6 within its own budget', () => {
    const s = sightings([
      ['2600:9000:1::1', [1]],
      ['2600:9000:1::2', [2]],
      ['2600:9000:1:ff::3', [3]],
    ]);
    expect(foldAddresses(s, opts).map((c) => c.cidr)).toEqual(['2600:9000:1::/56']);
  });
});

describe('name folding', () => {
  it('uses the private section of the public suffix list', () => {
    expect(registrableDomain('assets.mybucket.s3.amazonaws.com')).toBe('mybucket.s3.amazonaws.com');
    expect(registrableDomain('www.example.co.uk')).toBe('example.co.uk');
    expect(registrableDomain('co.uk')).toBeNull();
  });

  it('folds proper subdomains past the threshold and keeps the apex exact', () => {
    const names = ['a.example.com', 'b.example.com', 'c.example.com', 'example.com', 'x.other.org'];
    expect(foldNames(names, 3).map((f) => f.host)).toEqual(['*.example.com', 'example.com', 'x.other.org']);
    expect(foldNames(names, 4).map((f) => f.host)).toEqual([
      'a.example.com',
      'b.example.com',
      'c.example.com',
      'example.com',
      'x.other.org',
    ]);
    expect(foldNames(names, 0)).toHaveLength(5);
  });
});

describe('generated-looking names', () => {
  it('flags long random alphanumeric labels and spares words and short ids', () => {
    expect(entropy('aaaa')).toBe(0);
    expect(highEntropyLabel('mzxw6ytboi4dcnbvgq3tqojq.tunnel.example.com')).not.toBeNull();
    expect(highEntropyLabel('d1a2b3c4d5e6f7.cloudfront.net')).toBeNull();
    expect(highEntropyLabel('mycompany-prod-artifacts-eu-west-1.s3.amazonaws.com')).toBeNull();
    expect(highEntropyLabel('api.github.com')).toBeNull();
  });
});
