/**
 * The squid collector: access logs of a squid forward proxy (native `squid`, `common` and `combined` logformats,
 * detected per line). See `parse.ts` for the field mapping.
 */
import type { CollectorDescriptor, LineParser } from '../../src/model/collector.js';
import { parseSquidLine } from './parse.js';

export { parseSquidLine, SQUID_REJECT_REASONS, SQUID_SKIP_REASONS } from './parse.js';
export type { SquidRejectReason, SquidSkipReason } from './parse.js';

/** Stateless: every line names its own layout, so one parser object serves any number of files. */
const parser: LineParser = Object.freeze({ parse: parseSquidLine });

export const squidCollector: CollectorDescriptor = Object.freeze({
  name: 'squid',
  sourceKind: 'squid',
  description: 'squid access.log (native squid, common or combined logformat, detected per line)',
  sample:
    '1795401424.342      1 127.0.0.1 TCP_TUNNEL/200 59 CONNECT api.allowed.test:17777 - HIER_DIRECT/127.0.0.1 -',
  options: Object.freeze([]),
  createParser: (): LineParser => parser,
});
