/**
 * The Envoy collector: HTTP (and TCP proxy) access logs of an Envoy egress proxy or sidecar, in Envoy's default
 * text format or as `json_format` lines (Istio's JSON access-log keys included), detected per line. See
 * `parse.ts` for the field mapping.
 */
import type { CollectorDescriptor, LineParser } from '../../src/model/collector.js';
import { parseEnvoyLine } from './parse.js';

export { parseEnvoyLine, ENVOY_REJECT_REASONS, ENVOY_SKIP_REASONS } from './parse.js';
export type { EnvoyRejectReason, EnvoySkipReason } from './parse.js';

/** Stateless: every line names its own encoding, so one parser object serves any number of files. */
const parser: LineParser = Object.freeze({ parse: parseEnvoyLine });

export const envoyCollector: CollectorDescriptor = Object.freeze({
  name: 'envoy',
  sourceKind: 'envoy',
  description:
    "Envoy access log (Envoy's or Istio's default text format, or json_format lines, detected per line)",
  sample:
    '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "curl/7.88.1" "09b333ac-97ce-4c25-84c8-17a40500ded4" "origin.test" "127.0.0.1:18080"',
  options: Object.freeze([]),
  createParser: (): LineParser => parser,
});
