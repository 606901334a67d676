import type { CollectorDescriptor } from '../src/model/collector.js';
import { envoyCollector } from './envoy/index.js';
import { squidCollector } from './squid/index.js';
import { vpcFlowCollector } from './vpcflow/index.js';

/** Every file-format collector, in the order `collect --help` lists them. */
export const COLLECTORS: readonly CollectorDescriptor[] = [vpcFlowCollector, squidCollector, envoyCollector];

export function collectorNamed(name: string): CollectorDescriptor | undefined {
  return COLLECTORS.find((c) => c.name === name);
}
