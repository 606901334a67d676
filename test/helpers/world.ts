/**
 * A small observed cluster written straight into a real SQLite store: pods (through the lease recorder, as the
 * Kubernetes collector would), flow edges and DNS answers. For inference tests that need exact control over
 * times and addresses; the CLI path is covered by the simulation tests.
 */
import { join } from 'node:path';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import { refreshAttribution } from '../../src/identity/refresh-attribution.js';
import type { DnsAnswerAggregate } from '../../src/model/dns.js';
import type { Edge } from '../../src/model/edge.js';
import { SOURCE_KINDS, type SourceKind } from '../../src/model/observation.js';
import type { NamedPort, NodeRecord, PodRecord, ServiceRecord } from '../../src/model/workload.js';
import { DnsStore } from '../../src/store/dns-store.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from './tmp.js';

export const HOUR = 3600;
export const DAY = 86_400;
/** 2026-11-01T00:00:00Z */
export const T0 = Date.UTC(2026, 10, 1) / 1000;

export interface PodSpec {
  readonly uid: string;
  readonly namespace: string;
  readonly kind?: string;
  readonly workload: string;
  readonly ip: string;
  readonly node?: string;
  readonly labels?: Record<string, string>;
  readonly start: number;
  readonly hostNetwork?: boolean;
  readonly ports?: readonly NamedPort[];
}

export interface FlowSpec {
  readonly src: string;
  readonly dst?: string;
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: number;
  readonly at: number;
  readonly flows?: number;
  readonly source?: SourceKind;
}

export class World {
  readonly store: Store;
  readonly #recorder: LeaseRecorder;
  #seq = 0;
  #pods: PodRecord[] = [];
  #nodes: NodeRecord[] = [];
  #services: ServiceRecord[] = [];

  constructor() {
    this.store = new Store(join(tempDir(), 'world.db'));
    this.#recorder = new LeaseRecorder(new InventoryStore(this.store.db), '', []);
  }

  node(name: string, ip: string, at: number): this {
    this.#nodes.push({
      uid: `node-${name}`,
      name,
      addresses: [{ type: 'InternalIP', address: ip }],
      podCidrs: [],
      labels: {},
      createdAt: at,
    });
    this.#recorder.apply([{ op: 'replace', resource: 'nodes', at, items: this.#nodes }]);
    return this;
  }

  /** Adds a ClusterIP Service in `namespace`, as of `at`. */
  service(
    namespace: string,
    name: string,
    clusterIp: string,
    selector: Record<string, string>,
    ports: ServiceRecord['ports'],
    at: number,
  ): this {
    this.#services.push({
      uid: `svc-${name}`,
      namespace,
      name,
      type: 'ClusterIP',
      clusterIps: [clusterIp],
      externalName: '',
      selector,
      ports,
      createdAt: at,
    });
    this.#recorder.apply([{ op: 'replace', resource: 'services', at, items: this.#services }]);
    return this;
  }

  /** Replaces the running pods as of `at` (a snapshot): pods not listed are gone from then on. */
  pods(at: number, specs: readonly PodSpec[]): this {
    this.#pods = specs.map((p) => ({
      uid: p.uid,
      namespace: p.namespace,
      name: p.uid,
      workload: { cluster: '', namespace: p.namespace, kind: p.kind ?? 'Deployment', name: p.workload },
      node: p.node ?? 'node-a',
      hostNetwork: p.hostNetwork ?? false,
      ips: [p.ip],
      labels: p.labels ?? { app: p.workload },
      ports: p.ports ?? [],
      phase: 'Running',
      createdAt: p.start,
      startedAt: p.start,
      deletedAt: null,
      finishedAt: null,
    }));
    this.#recorder.apply([{ op: 'replace', resource: 'pods', at, items: this.#pods }]);
    return this;
  }

  /** One flow record's edge (60 s long, in its hour bucket). */
  flow(f: FlowSpec): this {
    const bucket = Math.floor(f.at / HOUR) * HOUR;
    const edge: Edge = {
      bucket,
      srcAddr: f.src,
      dstAddr: f.dst ?? '',
      dstHost: f.host ?? '',
      dstPort: f.port ?? 443,
      protocol: f.protocol ?? 6,
      action: 'accept',
      direction: 'egress',
      flows: f.flows ?? 1,
      replies: 0,
      packetsOut: 10,
      bytesOut: 1000,
      packetsIn: 10,
      bytesIn: 5000,
      firstSeen: f.at,
      lastSeen: f.at + 60,
      sources: 1 << SOURCE_KINDS.indexOf(f.source ?? 'vpcflow'),
    };
    this.#write([edge]);
    return this;
  }

  /** `client` asked for `name` at `at` and got `answers`. */
  dns(client: string, name: string, answers: readonly string[], at: number, ttl: number | null = 60): this {
    const dns = new DnsStore(this.store);
    const rows: DnsAnswerAggregate[] = answers.map((answer) => ({
      bucket: Math.floor(at / HOUR) * HOUR,
      client,
      name,
      type: answer.includes(':') ? 'AAAA' : 'A',
      answer,
      rcode: 'NOERROR',
      count: 1,
      firstSeen: at,
      lastSeen: at,
      minTtl: ttl,
      sources: 1 << SOURCE_KINDS.indexOf('route53'),
    }));
    this.#write([], () => dns.writeAnswers(rows));
    return this;
  }

  /** A CoreDNS log line: `client` asked for `name` at `at`; CoreDNS logs no answer. */
  ask(client: string, name: string, at: number): this {
    const dns = new DnsStore(this.store);
    const row: DnsAnswerAggregate = {
      bucket: Math.floor(at / HOUR) * HOUR,
      client,
      name,
      type: 'A',
      answer: '',
      rcode: 'NOERROR',
      count: 1,
      firstSeen: at,
      lastSeen: at,
      minTtl: null,
      sources: 1 << SOURCE_KINDS.indexOf('coredns'),
    };
    this.#write([], () => dns.writeAnswers([row]));
    return this;
  }

  #write(edges: Edge[], extra?: () => void): void {
    const n = ++this.#seq;
    this.store.writeBatch({
      edges,
      quarantine: [],
      extra,
      checkpoints: [
        {
          sourceId: `world-${n}`,
          fingerprintLength: 0,
          previousLineNo: null,
          kind: 'vpcflow',
          name: `world-${n}`,
          lineNo: 1,
          byteOffset: 1,
          done: true,
          parserState: null,
          delta: { records: edges.length, stored: edges.length, skipped: 0, malformed: 0 },
          firstTime: null,
          lastTime: null,
        },
      ],
    });
  }

  /** Brings the attribution cache up to date, as the CLI does before reading. */
  ready(): Store {
    refreshAttribution(this.store.db);
    return this.store;
  }
}
