import { describe, expect, it } from 'vitest';
import { infer, type InferOptions } from '../../src/infer/infer.js';
import type { Endpoint, FoldedCidr, InferenceResult } from '../../src/model/endpoint.js';
import { DAY, HOUR, T0, World, type PodSpec } from '../helpers/world.js';

const OPTS: InferOptions = {
  since: T0,
  until: T0 + 4 * DAY,
  maxPrefix4: 16,
  maxPrefix6: 48,
  allowAny: false,
  wildcardMin: 5,
  minFlows: 0,
  minDays: 0,
  dnsGrace: 600,
};

function run(w: World, over: Partial<InferOptions> = {}): InferenceResult {
  return infer(w.ready().db, { ...OPTS, ...over }).result;
}

function of(r: InferenceResult, sender: string): Endpoint[] {
  return r.endpoints.filter((e) => e.sender === sender);
}

function cidrsOf(e: Endpoint): readonly FoldedCidr[] {
  return e.destination.kind === 'peer' ? [] : e.destination.cidrs;
}

function target(e: Endpoint): string {
  const d = e.destination;
  const where =
    d.kind === 'peer'
      ? `${d.workload.namespace}/${d.workload.kind}/${d.workload.name}`
      : d.kind === 'host'
        ? `${d.host}[${d.cidrs.map((c) => c.cidr).join(' ')}]`
        : d.cidrs.map((c) => c.cidr).join(' ');
  return `${where}:${e.port}/${e.protocol}${e.via === 'proxy' ? ' via proxy' : ''}`;
}

/** shop's cart, unlabelled, on the default node. */
const cart = (): PodSpec => ({
  uid: 'cart-1',
  namespace: 'shop',
  workload: 'cart',
  ip: '10.244.2.9',
  start: T0 - DAY,
});

/** A pod on node-b, running since the day before. */
const onNodeB = (uid: string, namespace: string, workload: string, ip: string): PodSpec => ({
  uid,
  namespace,
  workload,
  ip,
  node: 'node-b',
  start: T0 - DAY,
});

const checkout = (ip = '10.244.1.5', uid = 'checkout-1', start = T0 - DAY): PodSpec => ({
  uid,
  namespace: 'shop',
  workload: 'checkout',
  ip,
  start,
  labels: { app: 'checkout', tier: 'web' },
});

describe('inference from edges, leases and DNS answers', () => {
  it('names a flow by the answer its own pod got, and keeps a stable address exact', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    for (let d = 0; d < 3; d++) {
      w.dns('10.244.1.5', 'api.stripe.com', ['54.187.174.169'], T0 + d * DAY + 100);
      w.flow({ src: '10.244.1.5', dst: '54.187.174.169', at: T0 + d * DAY + 110 });
    }
    const r = run(w);
    expect(of(r, 'shop/Deployment/checkout').map(target)).toEqual([
      'api.stripe.com[54.187.174.169/32]:443/TCP',
    ]);
    const e = of(r, 'shop/Deployment/checkout')[0]!;
    expect(e.evidence).toMatchObject({ flows: 3, days: 3, sender: 'exact', name: 'dns', pods: 1 });
    expect(r.senders.find((s) => s.id === 'shop/Deployment/checkout')!.selector).toEqual({
      app: 'checkout',
      tier: 'web',
    });
  });

  it("prefers the workload's own earlier answer over a name another client got for the same address later", () => {
    const w = new World().pods(T0 - DAY, [
      checkout(),
      { uid: 'evil-1', namespace: 'shop', workload: 'evil', ip: '10.244.9.9', start: T0 - DAY },
    ]);
    w.dns('10.244.1.5', 'api.vendor.com', ['198.51.100.4'], T0);
    w.dns('10.244.9.9', 'evil.example', ['198.51.100.4'], T0 + 3 * HOUR);
    w.flow({ src: '10.244.1.5', dst: '198.51.100.4', at: T0 + 3 * HOUR + 10 });
    const [e] = of(run(w), 'shop/Deployment/checkout');
    expect([target(e!), e!.evidence.name]).toEqual(['api.vendor.com[198.51.100.4/32]:443/TCP', 'dns-stale']);
  });

  it('shares the flows of an address among the names that resolved to it', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    w.dns('10.244.1.5', 'a.shared-cdn.net', ['198.51.100.5'], T0);
    w.dns('10.244.1.5', 'b.shared-cdn.net', ['198.51.100.5'], T0);
    w.flow({ src: '10.244.1.5', dst: '198.51.100.5', at: T0 + 10, flows: 10 });
    const flows = of(run(w), 'shop/Deployment/checkout').map((e) => [target(e), e.evidence.flows]);
    expect(flows).toEqual([
      ['a.shared-cdn.net[198.51.100.5/32]:443/TCP', 5],
      ['b.shared-cdn.net[198.51.100.5/32]:443/TCP', 5],
    ]);
  });

  it('folds a name whose answers rotate every hour to the published prefix that covers them', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    for (let h = 0; h < 48; h++) {
      const ip = `13.32.${(h * 7) % 16}.${(h * 37) % 250}`;
      w.dns('10.244.1.5', 'static.shop-cdn.net', [ip], T0 + h * HOUR + 10);
      w.flow({ src: '10.244.1.5', dst: ip, at: T0 + h * HOUR + 20 });
    }
    const prefixes = [
      { cidr: '13.32.0.0/20', service: 'CLOUDFRONT', region: 'GLOBAL' },
      { cidr: '13.32.0.0/15', service: 'AMAZON', region: 'GLOBAL' },
    ];
    const published = run(w, { prefixes });
    const host = of(published, 'shop/Deployment/checkout')[0]!;
    expect(target(host)).toBe('static.shop-cdn.net[13.32.0.0/20]:443/TCP');
    const d = host.destination as Extract<Endpoint['destination'], { kind: 'host' }>;
    expect(d.cidrs[0]).toMatchObject({ basis: 'published', provider: 'CLOUDFRONT GLOBAL', addresses: 48 });
    expect(d.cidrs[0]!.reason).toMatch(/rotated through 48 addresses, at most 1 at once/);

    // No provider list: the covering prefix of what was seen, within the budget.
    const observed = of(run(w), 'shop/Deployment/checkout')[0]!;
    expect(target(observed)).toBe('static.shop-cdn.net[13.32.0.0/20]:443/TCP');
    expect(cidrsOf(observed)[0]!.basis).toBe('observed');
    // A tighter budget splits the fold instead of widening past it.
    const tight = of(run(w, { maxPrefix4: 24 }), 'shop/Deployment/checkout')[0]!;
    const cidrs = cidrsOf(tight).map((c) => c.cidr);
    expect(cidrs.length).toBeGreaterThan(1);
    expect(cidrs.every((c) => Number(c.split('/')[1]) >= 24)).toBe(true);
  });

  it('keeps a fixed set of A records exact instead of folding it', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    for (let h = 0; h < 24; h++) {
      w.dns('10.244.1.5', 'hooks.slack.com', ['34.1.1.10', '52.9.200.3'], T0 + h * HOUR);
      w.flow({ src: '10.244.1.5', dst: h % 2 === 0 ? '34.1.1.10' : '52.9.200.3', at: T0 + h * HOUR + 5 });
    }
    expect(of(run(w), 'shop/Deployment/checkout').map(target)).toEqual([
      'hooks.slack.com[34.1.1.10/32 52.9.200.3/32]:443/TCP',
    ]);
  });

  it('gives each holder of a reused pod IP its own endpoints', () => {
    const w = new World()
      .pods(T0 - DAY, [checkout()])
      .pods(T0 + DAY, [
        { uid: 'ledger-1', namespace: 'shop', workload: 'ledger', ip: '10.244.1.5', start: T0 + DAY },
      ]);
    w.flow({ src: '10.244.1.5', dst: '198.51.100.7', port: 443, at: T0 + 3600 });
    w.flow({ src: '10.244.1.5', dst: '198.51.100.9', port: 443, at: T0 + DAY + 3600 });
    const r = run(w);
    expect(of(r, 'shop/Deployment/checkout').map(target)).toEqual(['198.51.100.7/32:443/TCP']);
    expect(of(r, 'shop/Deployment/ledger').map(target)).toEqual(['198.51.100.9/32:443/TCP']);
  });

  it('reports the traffic it read as first and last seen, whatever window cut through it', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    w.flow({ src: '10.244.1.5', dst: '198.51.100.7', port: 443, at: T0 + 100 });
    w.flow({ src: '10.244.1.5', dst: '198.51.100.7', port: 443, at: T0 + DAY });
    // A window starting inside the first edge's sighting (a relative --since moves on every run).
    for (const since of [T0 + 130, T0 + 150])
      expect(run(w, { since }).observed).toEqual({ first: T0 + 100, last: T0 + DAY + 60 });
    expect(run(w, { since: T0 + 2 * DAY }).observed).toBeNull();
  });

  it('learns names seen through the proxy as proxy endpoints without addresses', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    w.flow({
      src: '10.244.1.5',
      dst: '93.184.216.34',
      host: 'api.example.org',
      port: 443,
      at: T0 + 60,
      source: 'squid',
    });
    const [e] = of(run(w), 'shop/Deployment/checkout');
    expect(target(e!)).toBe('api.example.org[]:443/TCP via proxy');
    expect(e!.evidence.name).toBe('proxy');
  });

  it('learns a request the proxy logged to an address as a proxy endpoint, unless a flow log saw it direct', () => {
    const w = new World().pods(T0 - DAY, [checkout(), checkout('10.244.1.6', 'checkout-2')]);
    // CONNECT 203.0.113.9:443: no host name, and a flow log would see only the hop to the proxy. The proxy matches
    // the literal, whatever name DNS gave the address.
    w.dns('10.0.9.9', 'api.example.com', ['203.0.113.9'], T0 - 3600);
    w.flow({ src: '10.244.1.5', dst: '203.0.113.9', port: 443, at: T0 + 60, source: 'squid' });
    // The other pod went to the same address both ways in the same hour.
    w.flow({ src: '10.244.1.6', dst: '203.0.113.10', port: 443, at: T0 + 60, source: 'squid' });
    w.flow({ src: '10.244.1.6', dst: '203.0.113.10', port: 443, at: T0 + 90 });
    expect(of(run(w), 'shop/Deployment/checkout').map(target)).toEqual([
      '203.0.113.10/32:443/TCP',
      '203.0.113.9/32:443/TCP via proxy',
    ]);
  });

  it('learns in-cluster peers by workload with their stable labels', () => {
    const w = new World().pods(T0 - DAY, [
      checkout(),
      {
        uid: 'cart-1',
        namespace: 'shop',
        workload: 'cart',
        ip: '10.244.2.9',
        start: T0 - DAY,
        labels: { app: 'cart' },
      },
    ]);
    w.flow({ src: '10.244.1.5', dst: '10.244.2.9', port: 8080, at: T0 + 60 });
    const [e] = of(run(w), 'shop/Deployment/checkout');
    expect(target(e!)).toBe('shop/Deployment/cart:8080/TCP');
    expect(e!.destination).toMatchObject({ kind: 'peer', selector: { app: 'cart' } });
  });

  it("learns traffic to a Service's ClusterIP as its pods' workload on the targetPort, a number or a port name", () => {
    const pod = (workload: string, ip: string, ports: PodSpec['ports']): PodSpec => ({
      uid: `${workload}-1`,
      namespace: 'shop',
      workload,
      ip,
      start: T0 - DAY,
      ports,
    });
    const w = new World()
      .pods(T0 - DAY, [
        checkout(),
        pod('cart', '10.244.2.9', []),
        pod('search', '10.244.3.3', [{ name: 'grpc', port: 9090, protocol: 'TCP' }]),
      ])
      .service(
        'shop',
        'cart',
        '172.20.0.10',
        { app: 'cart' },
        [{ name: '', protocol: 'TCP', port: 80, targetPort: 8080 }],
        T0 - DAY,
      )
      .service(
        'shop',
        'search',
        '172.20.0.11',
        { app: 'search' },
        [{ name: 'grpc', protocol: 'TCP', port: 443, targetPort: 'grpc' }],
        T0 - DAY,
      );
    w.flow({ src: '10.244.1.5', dst: '172.20.0.10', port: 80, at: T0 + 60 });
    w.flow({ src: '10.244.1.5', dst: '172.20.0.11', port: 443, at: T0 + 60 });
    // NetworkPolicy and Cilium see the pod's port, after kube-proxy's translation: port 80 would allow nothing.
    expect(of(run(w), 'shop/Deployment/checkout').map(target)).toEqual([
      'shop/Deployment/cart:8080/TCP',
      'shop/Deployment/search:9090/TCP',
    ]);
  });

  it('keeps the port seen on a ClusterIP when the Service lists no ports (inventory stored before they were)', () => {
    const w = new World()
      .pods(T0 - DAY, [checkout(), cart()])
      .service('shop', 'cart', '172.20.0.10', { app: 'cart' }, [], T0 - DAY);
    w.flow({ src: '10.244.1.5', dst: '172.20.0.10', port: 80, at: T0 + 60 });
    expect(of(run(w), 'shop/Deployment/checkout').map(target)).toEqual(['shop/Deployment/cart:80/TCP']);
  });

  it('narrows SNAT traffic from a node address to the candidate pod that asked DNS for the name', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout(), cart()]);
    w.dns('10.244.2.9', 'api.github.com', ['140.82.112.3'], T0 + 50);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 60 });
    const r = run(w);
    expect(of(r, 'shop/Deployment/cart').map(target)).toEqual(['api.github.com[140.82.112.3/32]:443/TCP']);
    expect(of(r, 'shop/Deployment/cart')[0]!.evidence.sender).toBe('dns-client');
    expect(of(r, 'shop/Deployment/checkout')).toEqual([]);
  });

  it('credits each name of a shared address only to the candidates that asked for that name', () => {
    // Two buckets answered with the same S3 address within minutes: cart asked for one, checkout for the other.
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout(), cart()]);
    w.dns('10.244.2.9', 'cart-uploads.s3.amazonaws.com', ['52.216.8.9'], T0 + 50);
    w.dns('10.244.1.5', 'checkout-archive.s3.amazonaws.com', ['52.216.8.9'], T0 + 55);
    w.flow({ src: '10.0.1.10', dst: '52.216.8.9', at: T0 + 60 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e), e.evidence.sender])).toEqual([
      ['shop/Deployment/cart', 'cart-uploads.s3.amazonaws.com[52.216.8.9/32]:443/TCP', 'dns-client'],
      ['shop/Deployment/checkout', 'checkout-archive.s3.amazonaws.com[52.216.8.9/32]:443/TCP', 'dns-client'],
    ]);
  });

  it('drops the names of a shared address that no candidate asked for', () => {
    // Another node's pod asked for the second name, and both answers are hours old (no live answer prefers the
    // node's): the SNAT'd flow from node-a went to cart's name only.
    const w = new World()
      .node('node-a', '10.0.1.10', T0 - DAY)
      .pods(T0 - DAY, [cart(), onNodeB('report-1', 'shop', 'report', '10.244.7.7')]);
    w.dns('10.244.2.9', 'cart-uploads.s3.amazonaws.com', ['52.216.8.9'], T0 + 50);
    w.dns('10.244.7.7', 'report-archive.s3.amazonaws.com', ['52.216.8.9'], T0 + 55);
    w.flow({ src: '10.0.1.10', dst: '52.216.8.9', at: T0 + 3 * HOUR });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e), e.evidence.flows])).toEqual([
      ['shop/Deployment/cart', 'cart-uploads.s3.amazonaws.com[52.216.8.9/32]:443/TCP', 1],
    ]);
  });

  it('narrows SNAT traffic with the pod CoreDNS saw asking, when the resolver only saw CoreDNS', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [
      checkout(),
      cart(),
      {
        uid: 'coredns-1',
        namespace: 'kube-system',
        workload: 'coredns',
        ip: '10.244.0.2',
        start: T0 - DAY,
      },
    ]);
    w.ask('10.244.2.9', 'api.github.com', T0 + 49);
    w.dns('10.244.0.2', 'api.github.com', ['140.82.112.3'], T0 + 50);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 60 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e), e.evidence.sender])).toEqual([
      ['shop/Deployment/cart', 'api.github.com[140.82.112.3/32]:443/TCP', 'dns-client'],
    ]);
  });

  /**
   * checkout, cart and coredns-1 on node-a, coredns-2 on node-b; cart sends coredns-2 a query, whose answer Route
   * 53 logs with coredns-2 as the client.
   */
  const forwardingWorld = (): World => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [
      checkout(),
      cart(),
      {
        uid: 'coredns-1',
        namespace: 'kube-system',
        workload: 'coredns',
        ip: '10.244.0.2',
        start: T0 - DAY,
      },
      onNodeB('coredns-2', 'kube-system', 'coredns', '10.244.9.2'),
    ]);
    w.flow({ src: '10.244.2.9', dst: '10.244.9.2', port: 53, protocol: 17, at: T0 + 49 });
    w.dns('10.244.9.2', 'api.github.com', ['140.82.112.3'], T0 + 50);
    return w;
  };

  it('never credits CoreDNS with a name it forwarded: the candidates that sent it queries just before are', () => {
    // No CoreDNS query log: Route 53 names coredns-2 as the client. cart's query to coredns-2 crossed ENIs and
    // is in the flow log; coredns-1 runs on node-a, so it is a candidate of the SNAT'd flow, but it only serves.
    // Hourly flow edges say who talked to CoreDNS, not who asked for this name: cart stays a low-confidence
    // candidate (checkout, which sent no query, is left out).
    const w = forwardingWorld();
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 60 });
    const r = run(w);
    expect(
      r.endpoints.filter((e) => e.port === 443).map((e) => [e.sender, target(e), e.evidence.sender]),
    ).toEqual([
      ['node/node-a', 'api.github.com[140.82.112.3/32]:443/TCP', 'candidate'],
      ['shop/Deployment/cart', 'api.github.com[140.82.112.3/32]:443/TCP', 'candidate'],
    ]);
  });

  it("keeps every candidate when a CoreDNS pod on the flow's own node answered too: its neighbours ask it unseen", () => {
    // Both CoreDNS pods got the answer. cart's query to coredns-2 (node-b) is in the flow log; checkout asked
    // coredns-1 on its own node, which no flow log shows: cart alone must not take the flow.
    const w = forwardingWorld();
    w.dns('10.244.0.2', 'api.github.com', ['140.82.112.3'], T0 + 52);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 60 });
    const r = run(w);
    expect(r.endpoints.filter((e) => e.port === 443).map((e) => [e.sender, e.evidence.sender])).toEqual([
      ['node/node-a', 'candidate'],
      ['shop/Deployment/cart', 'candidate'],
      ['shop/Deployment/checkout', 'candidate'],
    ]);
  });

  it('narrows SNAT traffic to the candidate that asked before and cached the answer, while another pod asked lately', () => {
    // cart asked at +50 and kept the address; mail, on another node, asked at +3000. The flow at +3100 is cart's.
    const w = new World()
      .node('node-a', '10.0.1.10', T0 - DAY)
      .pods(T0 - DAY, [checkout(), cart(), onNodeB('mail-1', 'shop', 'mail', '10.244.7.7')]);
    w.dns('10.244.2.9', 'api.github.com', ['140.82.112.3'], T0 + 50);
    w.dns('10.244.7.7', 'api.github.com', ['140.82.112.3'], T0 + 3000);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 3100 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e), e.evidence.sender])).toEqual([
      ['shop/Deployment/cart', 'api.github.com[140.82.112.3/32]:443/TCP', 'dns-client'],
    ]);
  });

  it('narrows SNAT traffic to the candidate CoreDNS saw asking earlier in the day, when it cached the answer', () => {
    // Route 53 sees only coredns; CoreDNS's log names cart at +50 and mail (another node) at +3000.
    const w = new World()
      .node('node-a', '10.0.1.10', T0 - DAY)
      .pods(T0 - DAY, [
        checkout(),
        cart(),
        onNodeB('mail-1', 'shop', 'mail', '10.244.7.7'),
        onNodeB('coredns-2', 'kube-system', 'coredns', '10.244.9.2'),
      ]);
    w.ask('10.244.2.9', 'api.github.com', T0 + 50);
    w.dns('10.244.9.2', 'api.github.com', ['140.82.112.3'], T0 + 51);
    w.ask('10.244.7.7', 'api.github.com', T0 + 3000);
    w.dns('10.244.9.2', 'api.github.com', ['140.82.112.3'], T0 + 3001);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 3100 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e), e.evidence.sender])).toEqual([
      ['shop/Deployment/cart', 'api.github.com[140.82.112.3/32]:443/TCP', 'dns-client'],
    ]);
  });

  it('spreads SNAT traffic nobody can narrow over every candidate and the node, at low confidence', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout(), cart()]);
    w.flow({ src: '10.0.1.10', dst: '140.82.112.3', at: T0 + 60 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, e.evidence.sender])).toEqual([
      ['node/node-a', 'candidate'],
      ['shop/Deployment/cart', 'candidate'],
      ['shop/Deployment/checkout', 'candidate'],
    ]);
    expect(of(r, 'shop/Deployment/cart')[0]!.confidence).toBeLessThan(0.5);
  });

  it("keeps a node's own lookups (the node asked DNS) on the node, not on its pods", () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout()]);
    w.dns('10.0.1.10', 'api.ecr.us-east-1.amazonaws.com', ['52.46.1.1'], T0 + 50);
    w.flow({ src: '10.0.1.10', dst: '52.46.1.1', at: T0 + 60 });
    expect(run(w).endpoints.map((e) => [e.sender, target(e), e.evidence.sender])).toEqual([
      ['node/node-a', 'api.ecr.us-east-1.amazonaws.com[52.46.1.1/32]:443/TCP', 'exact'],
    ]);
  });

  it('flags an unnamed internet address sent through a node by a pod nobody could name, once DNS is logged', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout()]);
    w.dns('10.244.1.5', 'api.stripe.com', ['54.187.174.169'], T0 + 50);
    w.flow({ src: '10.0.1.10', dst: '54.187.174.169', at: T0 + 60 });
    w.flow({ src: '10.0.1.10', dst: '198.51.100.77', at: T0 + 60 });
    const r = run(w);
    const flags = (t: string) =>
      r.endpoints.filter((e) => target(e).startsWith(t)).flatMap((e) => e.suspicions.map((s) => s.code));
    expect(flags('198.51.100.77')).toContain('unnamed-address-via-node');
    expect(flags('api.stripe.com')).toEqual([]);
  });

  it("counts the pods that asked DNS, so a SNAT'd endpoint of one pod among many is flagged", () => {
    const pods = [1, 2, 3].map((i) => checkout(`10.244.1.${i}`, `checkout-${i}`));
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, pods);
    for (const p of pods) {
      w.dns(p.ip, 'api.stripe.com', ['54.187.174.169'], T0 + 50);
      w.flow({ src: '10.0.1.10', dst: '54.187.174.169', at: T0 + 60 });
    }
    w.dns('10.244.1.2', 'updates.example-cdn.net', ['198.51.100.8'], T0 + 70);
    w.flow({ src: '10.0.1.10', dst: '198.51.100.8', at: T0 + 80 });
    const r = run(w);
    const by = (t: string) => of(r, 'shop/Deployment/checkout').find((e) => target(e).startsWith(t))!;
    expect(by('api.stripe.com').evidence.pods).toBe(3);
    expect(by('updates.example-cdn.net').evidence.pods).toBe(1);
    expect(by('updates.example-cdn.net').suspicions.map((s) => s.code)).toContain('single-pod-of-many');
    expect(by('api.stripe.com').suspicions).toEqual([]);
  });

  it("keeps a node's traffic inside the VPC on the node, and lists it as a client of the pods it reaches", () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [checkout()]);
    w.flow({ src: '10.0.1.10', dst: '10.244.1.5', port: 8080, at: T0 + 60 });
    w.flow({ src: '10.0.1.10', dst: '10.0.20.5', port: 5432, at: T0 + 60 });
    const r = run(w);
    expect(r.endpoints.map((e) => [e.sender, target(e)])).toEqual([
      ['node/node-a', '10.0.20.5/32:5432/TCP'],
      ['node/node-a', 'shop/Deployment/checkout:8080/TCP'],
    ]);
    expect(r.inbound.map((i) => [i.destination.name, i.source, i.cidrs[0]!.cidr, i.port])).toEqual([
      ['checkout', 'node/node-a', '10.0.1.10/32', 8080],
    ]);
  });

  it('folds many subdomains into a wildcard only past --wildcard-min, and never across ports', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    const names = ['a', 'b', 'c', 'd', 'e'].map((x) => `${x}.tiles.example.com`);
    names.forEach((n, i) => {
      w.flow({
        src: '10.244.1.5',
        dst: `93.184.216.${i + 1}`,
        host: n,
        port: 443,
        at: T0 + i,
        source: 'squid',
      });
    });
    w.flow({
      src: '10.244.1.5',
      dst: '93.184.216.9',
      host: 'f.tiles.example.com',
      port: 80,
      at: T0,
      source: 'squid',
    });
    expect(of(run(w), 'shop/Deployment/checkout').map(target)).toEqual([
      '*.example.com[]:443/TCP via proxy',
      'f.tiles.example.com[]:80/TCP via proxy',
    ]);
    expect(of(run(w, { wildcardMin: 6 }), 'shop/Deployment/checkout')).toHaveLength(6);
  });

  it('flags a raw address on an odd port used by one pod of many, and lists rare endpoints', () => {
    const pods = [1, 2, 3].map((i) => checkout(`10.244.1.${i}`, `checkout-${i}`));
    const w = new World().pods(T0 - DAY, pods);
    for (let d = 0; d < 4; d++)
      for (const p of pods) w.flow({ src: p.ip, dst: '10.0.20.5', port: 5432, at: T0 + d * DAY });
    w.flow({ src: '10.244.1.2', dst: '203.0.113.66', port: 4444, at: T0 + 3 * DAY + 100 });
    const r = run(w, { minDays: 2 });
    const odd = of(r, 'shop/Deployment/checkout').find((e) => e.port === 4444)!;
    expect(odd.suspicions.map((s) => s.code)).toEqual([
      'raw-ip-unusual-port',
      'single-pod-of-many',
      'new-on-last-day',
    ]);
    expect(odd.rare).toBe(true);
    const db = of(r, 'shop/Deployment/checkout').find((e) => e.port === 5432)!;
    expect([db.suspicions, db.rare, db.evidence.pods]).toEqual([[], false, 3]);
  });

  it('flags a generated-looking name and keeps it out of wildcards', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    const names = ['a', 'b', 'c', 'd', 'x9f3k2m8q7w1z5v4b6n0'].map((x) => `${x}.evil-example.com`);
    names.forEach((n, i) =>
      w.flow({ src: '10.244.1.5', host: n, dst: `93.184.216.${i + 1}`, at: T0 + i, source: 'squid' }),
    );
    const r = run(w);
    const flagged = r.endpoints.filter((e) => e.suspicions.some((s) => s.code === 'high-entropy-name'));
    expect(flagged.map(target)).toEqual(['x9f3k2m8q7w1z5v4b6n0.evil-example.com[]:443/TCP via proxy']);
    expect(r.endpoints.some((e) => target(e).startsWith('*.'))).toBe(false);
  });

  it('never opens the whole address space unless allowed, and is deterministic', () => {
    const w = new World().pods(T0 - DAY, [checkout()]);
    for (let h = 0; h < 12; h++) {
      const ip = `${((h * 53) % 223) + 1}.${h}.0.${h + 1}`;
      w.dns('10.244.1.5', 'everywhere.example.net', [ip], T0 + h * HOUR);
      w.flow({ src: '10.244.1.5', dst: ip, at: T0 + h * HOUR + 1 });
    }
    const wide = run(w, { maxPrefix4: 0 });
    const all = wide.endpoints.flatMap((e) =>
      e.destination.kind === 'peer' ? [] : e.destination.cidrs.map((c) => c.cidr),
    );
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain('0.0.0.0/0');
    const any = run(w, { maxPrefix4: 0, allowAny: true });
    expect(
      any.endpoints.flatMap((e) =>
        e.destination.kind === 'host' ? e.destination.cidrs.map((c) => c.cidr) : [],
      ),
    ).toContain('0.0.0.0/0');
    expect(JSON.stringify(run(w))).toBe(JSON.stringify(run(w)));
  });
});
