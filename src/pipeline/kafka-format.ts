import { collectorNamed } from '../../collectors/index.js';
import { dnsCollectorNamed } from '../../collectors/dns/index.js';
import type { CollectorDescriptor } from '../model/collector.js';
import type { DnsCollectorDescriptor } from '../model/dns.js';

/** What `collect kafka --format` accepts: a log format, or `edges` (stage 2: edge deltas from stage 1). */
export const KAFKA_FORMATS = ['vpc-flow', 'squid', 'envoy', 'route53', 'coredns', 'edges'] as const;
export type KafkaFormatName = (typeof KAFKA_FORMATS)[number];

/** How a topic's values are read: lines into edges, lines into DNS answers, or edge deltas. */
export type KafkaFormat =
  | { readonly kind: 'observations'; readonly name: string; readonly collector: CollectorDescriptor }
  | { readonly kind: 'dns'; readonly name: string; readonly collector: DnsCollectorDescriptor }
  | { readonly kind: 'edges'; readonly name: 'edges' };

export function kafkaFormat(name: KafkaFormatName): KafkaFormat {
  if (name === 'edges') return { kind: 'edges', name };
  const c = collectorNamed(name);
  if (c !== undefined) return { kind: 'observations', name, collector: c };
  // KAFKA_FORMATS lists only names the two registries know (validated by the CLI's choices).
  return { kind: 'dns', name, collector: dnsCollectorNamed(name)! };
}

/** The `sources` kind a format's partitions are recorded under. */
export function sourceKindOf(f: KafkaFormat): string {
  return f.kind === 'edges' ? 'edges' : f.collector.sourceKind;
}
