/**
 * The pods an observed edge reaches, as NetworkPolicy sees them, from the lease history: the pod that held a
 * destination address (its named container ports resolve named ports in rules), and the pods behind a Service's
 * ClusterIP. kube-proxy (or the CNI) translates ClusterIP:port to podIP:targetPort before policy is enforced, so a
 * flow to a ClusterIP is judged as a flow to each backing pod on its targetPort.
 */
import { overlaps } from '../identity/attribution.js';
import {
  serviceSelects,
  targetPorts,
  workloadId,
  type Lease,
  type NamedPort,
  type PortProtocol,
  type ServiceRecord,
} from '../model/workload.js';

/** A pod behind a Service over an edge's range, and the port it receives the edge's traffic on. */
export interface Backend {
  readonly lease: Lease;
  /** `namespace/Kind/name` of its workload. */
  readonly workload: string;
  readonly port: number;
}

export class PodIndex {
  static readonly EMPTY = new PodIndex([], new Map());

  readonly #byIp = new Map<string, Lease[]>();
  readonly #byNamespace = new Map<string, Lease[]>();

  /** `leases`: those of the replayed window; `services`: by `namespace/name`. */
  constructor(
    leases: readonly Lease[],
    readonly services: ReadonlyMap<string, Pick<ServiceRecord, 'selector' | 'ports'>>,
  ) {
    for (const l of leases) {
      // A host-network pod's address is its node's, and NetworkPolicy does not apply to it.
      if (l.hostNetwork) continue;
      push(this.#byIp, l.ip, l);
      push(this.#byNamespace, l.namespace, l);
    }
  }

  /**
   * The named ports of the pod that held `ip` over [first, last]: the latest holder's, the one whose labels
   * attribution gives the destination. [] when none is known.
   */
  portsAt(ip: string, first: number, last: number): readonly NamedPort[] {
    let latest: Lease | null = null;
    for (const l of this.#byIp.get(ip) ?? []) {
      if (overlaps(l, first, last) && (latest === null || l.start > latest.start)) latest = l;
    }
    return latest?.ports ?? [];
  }

  /**
   * The pods the Service (`namespace/name`) selected over [first, last], one per distinct labels, ports and
   * target port (replicas of one template are judged once), each with the port it receives `port` / `protocol` on.
   * A pod that declares no port a named targetPort names is no endpoint, as in Kubernetes. Empty when the
   * Service, its selector or a Service port for the traffic is unknown (inventory collected before Service ports
   * were stored) or no pod matches: the caller then judges the ClusterIP as an address, as before.
   */
  backends(service: string, port: number, protocol: PortProtocol, first: number, last: number): Backend[] {
    const s = this.services.get(service);
    if (s === undefined) return [];
    const namespace = service.slice(0, service.indexOf('/'));
    const out = new Map<string, Backend>();
    for (const l of this.#byNamespace.get(namespace) ?? []) {
      if (!serviceSelects(s.selector, l.labels) || !overlaps(l, first, last)) continue;
      const workload = workloadId(l.workload);
      for (const target of targetPorts(s.ports, port, protocol, l.ports)) {
        const key = JSON.stringify([workload, l.labels, l.ports, target]);
        if (!out.has(key)) out.set(key, { lease: l, workload, port: target });
      }
    }
    return [...out.values()];
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}
