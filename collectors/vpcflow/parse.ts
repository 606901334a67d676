/**
 * Parses one AWS VPC flow log record into an oriented `Observation`.
 *
 * A record is one line of space-separated fields; `-` marks a field that does not apply. The default format is
 * the version 2 fields in this order (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html):
 *
 *     version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
 *
 * for example (accepted SSH, from the AWS flow log record examples):
 *
 *     2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
 *
 * Custom formats (v3–v8) choose their fields and order; S3 exports start each file with a header line naming
 * them (`version vpc-id subnet-id …`), which `parseVpcFlowHeader` reads. `start` / `end` are epoch seconds.
 *
 * This runs once per input line over tens of GB. The line is scanned once (`indexOf(' ')`) into a shared table
 * of field boundaries, so numbers and keywords are read in place without a string per field; numbers are read
 * by hand (no regex, none of `Number()`'s `0x10` / `1e3` / `' 1'` leniency); the only allocations are the
 * address and id strings and the observation, and rejects and skips are shared constant outcomes.
 */
import { canonicalIp } from '../../src/model/ip.js';
import type { ObservationScratch } from '../../src/model/collector.js';
import { MAX_EPOCH_SECONDS, type Action, type Observation } from '../../src/model/observation.js';
import { ParseOutcome } from '../../src/model/parse-outcome.js';
import type { FieldLayout } from './fields.js';
import { isFieldName, isKnownField, layoutOf } from './fields.js';
import { orient } from './orient.js';

/** Why a record was rejected. A bounded set: these are quarantine reasons, never exception text. */
export const VPC_FLOW_REJECT_REASONS = [
  /** The record has more or fewer fields than the layout names. */
  'field_count',
  /** The layout in force (from a header line) lacks srcaddr, dstaddr, start or action. */
  'layout_missing_field',
  /** srcaddr, dstaddr, start or action is `-` on a record that carries a flow. */
  'missing_field',
  'bad_ip',
  'bad_port',
  'bad_protocol',
  /** packets or bytes is not a non-negative integer below 2^53. */
  'bad_count',
  /** start or end is not epoch seconds, or end is before start. */
  'bad_time',
  'bad_action',
  'bad_log_status',
  'bad_tcp_flags',
  'bad_flow_direction',
  'bad_traffic_path',
] as const;
export type VpcFlowRejectReason = (typeof VPC_FLOW_REJECT_REASONS)[number];

/** Lines skipped on purpose: they carry no flow. */
export const VPC_FLOW_SKIP_REASONS = ['header', 'nodata', 'skipdata', 'blank'] as const;
export type VpcFlowSkipReason = (typeof VPC_FLOW_SKIP_REASONS)[number];

export type VpcFlowOutcome = ParseOutcome<VpcFlowRejectReason>;

// Outcomes without a payload are immutable, so each is built once and shared by every line.
const REJECT = Object.fromEntries(
  VPC_FLOW_REJECT_REASONS.map((r) => [r, Object.freeze(ParseOutcome.reject(r))]),
) as {
  readonly [R in VpcFlowRejectReason]: VpcFlowOutcome;
};
const SKIP = Object.fromEntries(
  VPC_FLOW_SKIP_REASONS.map((r) => [r, Object.freeze(ParseOutcome.skip(r))]),
) as {
  readonly [R in VpcFlowSkipReason]: VpcFlowOutcome;
};

const MAX_PORT = 65535;
const MAX_PROTOCOL = 255;
/** The tcp-flags field is the 8-bit flags byte, OR-ed over the window. */
const MAX_TCP_FLAGS = 255;
/** traffic-path is a small code (1 = same VPC … 8 = internet gateway); anything beyond a byte is not one. */
const MAX_TRAFFIC_PATH = 255;

/**
 * Field boundaries of the line being parsed: field `k` spans `[START[k], START[k + 1] - 1)`. Shared scratch space,
 * safe because parsing is synchronous and never re-entered; it spares a string per numeric field.
 */
const MAX_FIELDS = 255;
const START = new Int32Array(MAX_FIELDS + 2);

/**
 * Records where each space-separated field of `text` starts and returns the field count, or -1 when a field
 * is empty (doubled, leading or trailing space) or there are more than MAX_FIELDS.
 */
function scanFields(text: string): number {
  let count = 0;
  let from = 0;
  for (;;) {
    const space = text.indexOf(' ', from);
    const to = space === -1 ? text.length : space;
    if (to === from || count === MAX_FIELDS) return -1;
    START[count++] = from;
    if (space === -1) break;
    from = space + 1;
  }
  START[count] = text.length + 1;
  return count;
}

/** True when field `k` is `-` (absent). */
function isAbsent(text: string, k: number): boolean {
  const from = START[k]!;
  return START[k + 1]! - from === 2 && text.charCodeAt(from) === 45;
}

function fieldText(text: string, k: number): string {
  return text.slice(START[k]!, START[k + 1]! - 1);
}

/** True when field `k` is exactly `word`. */
function fieldIs(text: string, k: number, word: string): boolean {
  const from = START[k]!;
  return START[k + 1]! - 1 - from === word.length && text.startsWith(word, from);
}

/**
 * Reads field `k` as a non-negative decimal integer no larger than `max`, or returns -1. At most 16 digits: every
 * 16-digit prefix of a value ≤ 2^53 is accumulated exactly, and anything longer is above 2^53 anyway.
 */
function uintAt(text: string, k: number, max: number): number {
  const from = START[k]!;
  const to = START[k + 1]! - 1;
  if (to === from || to - from > 16) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value > max ? -1 : value;
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** Splits on runs of white space, ignoring leading and trailing space. The slow path for untidy lines. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i === n) break;
    const from = i;
    while (i < n && !isSpace(text.charCodeAt(i))) i++;
    tokens.push(text.slice(from, i));
  }
  return tokens;
}

/**
 * Reads a header line: a line whose tokens are all field names (as S3 exports write at the top of each file),
 * unique, at least one of them a field we know. Returns its layout, which may lack required fields (see
 * `FieldLayout.missing`), or null when the line is not a header. Data lines never qualify: their addresses,
 * numbers and `-` are not field names.
 */
export function parseVpcFlowHeader(text: string): FieldLayout | null {
  const c = text.charCodeAt(0);
  if (!(c >= 97 && c <= 122) && !isSpace(c)) return null; // a header starts with a lower-case name
  const tokens = tokenize(text);
  if (tokens.length === 0) return null;
  let known = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!isFieldName(token) || tokens.indexOf(token) !== i) return null;
    if (isKnownField(token)) known = true;
  }
  return known ? layoutOf(tokens) : null;
}

/** A failed line is a header line when it reads as one; otherwise it is rejected for `reason`. */
function rejectUnlessHeader(text: string, reason: VpcFlowRejectReason): VpcFlowOutcome {
  return parseVpcFlowHeader(text) === null ? REJECT[reason] : SKIP.header;
}

/** A raw id field: `-` is absent. */
function idAt(text: string, k: number): string | null {
  return k < 0 || isAbsent(text, k) ? null : fieldText(text, k);
}

/**
 * Parses one record with `layout`. Pure and total: it never throws, whatever `text` holds. NODATA / SKIPDATA
 * records and header lines are skipped; malformed records are rejected with a `VPC_FLOW_REJECT_REASONS` member.
 * The observation is oriented by `orient` (see orient.ts): a reply half comes back flipped into its request edge.
 */
export function parseVpcFlowLine(text: string, layout: FieldLayout): VpcFlowOutcome {
  return parseVpcFlowLineInto(text, layout, null);
}

/**
 * `parseVpcFlowLine` for the ingest hot path: with `into`, the observation is written there and returned in
 * place of a new object (valid until the next call), which spares an allocation per record.
 */
export function parseVpcFlowLineInto(
  text: string,
  layout: FieldLayout,
  into: ObservationScratch | null,
): VpcFlowOutcome {
  if (layout.missing.length !== 0) return rejectUnlessHeader(text, 'layout_missing_field');
  // Fast path: exactly one space between fields and no other white space. Anything else (CRLF, tabs, doubled spaces)
  // is tidied first, so a tab separates fields wherever it stands (a TSV export, or tab-separated columns around a
  // record, which then has too many fields).
  const count = scanFields(text);
  if (
    count === -1 ||
    count !== layout.fieldCount ||
    isSpace(text.charCodeAt(text.length - 1)) ||
    OTHER_SPACE.test(text)
  ) {
    const tidy = tokenize(text);
    if (tidy.length === 0) return SKIP.blank;
    if (tidy.length !== layout.fieldCount) return rejectUnlessHeader(text, 'field_count');
    return parseTidyLine(tidy.join(' '), layout, text, into);
  }
  return parseTidyLine(text, layout, text, into);
}

/** White space other than the space itself (see `isSpace`). */
const OTHER_SPACE = /[\t\n\v\f\r]/;

/**
 * Parses a record whose fields are separated by single spaces and already scanned into START (scanFields
 * returned `layout.fieldCount`). `original` is the line as read, for the header check on failure.
 */
function parseTidyLine(
  text: string,
  layout: FieldLayout,
  original: string,
  into: ObservationScratch | null,
): VpcFlowOutcome {
  if (text !== original) scanFields(text);

  // log-status first: NODATA and SKIPDATA records have `-` in every flow field.
  if (layout.logStatus >= 0 && !fieldIs(text, layout.logStatus, 'OK')) {
    if (fieldIs(text, layout.logStatus, 'NODATA')) return SKIP.nodata;
    if (fieldIs(text, layout.logStatus, 'SKIPDATA')) return SKIP.skipdata;
    return rejectUnlessHeader(original, 'bad_log_status');
  }

  // Required fields: their indexes are >= 0 (a layout with `missing` fields never gets here).
  const srcAbsent = isAbsent(text, layout.srcaddr);
  const actionAbsent = isAbsent(text, layout.action);
  if (srcAbsent || actionAbsent || isAbsent(text, layout.dstaddr) || isAbsent(text, layout.start)) {
    // Without log-status, a no-flow record is recognised by having neither addresses nor action.
    if (layout.logStatus < 0 && srcAbsent && actionAbsent) return SKIP.nodata;
    return REJECT.missing_field;
  }
  const srcAddr = canonicalIp(fieldText(text, layout.srcaddr));
  const dstAddr = canonicalIp(fieldText(text, layout.dstaddr));
  if (srcAddr === null || dstAddr === null) return rejectUnlessHeader(original, 'bad_ip');
  let action: Action;
  if (fieldIs(text, layout.action, 'ACCEPT')) action = 'accept';
  else if (fieldIs(text, layout.action, 'REJECT')) action = 'reject';
  else return rejectUnlessHeader(original, 'bad_action');
  const start = uintAt(text, layout.start, MAX_EPOCH_SECONDS);
  if (start < 0) return rejectUnlessHeader(original, 'bad_time');
  let end = start;
  if (layout.end >= 0 && !isAbsent(text, layout.end)) {
    end = uintAt(text, layout.end, MAX_EPOCH_SECONDS);
    if (end < start) return rejectUnlessHeader(original, 'bad_time'); // also catches -1 (not a number)
  }

  let srcPort: number | null = null;
  if (layout.srcport >= 0 && !isAbsent(text, layout.srcport)) {
    srcPort = uintAt(text, layout.srcport, MAX_PORT);
    if (srcPort < 0) return rejectUnlessHeader(original, 'bad_port');
  }
  let dstPort: number | null = null;
  if (layout.dstport >= 0 && !isAbsent(text, layout.dstport)) {
    dstPort = uintAt(text, layout.dstport, MAX_PORT);
    if (dstPort < 0) return rejectUnlessHeader(original, 'bad_port');
  }
  let protocol: number | null = null;
  if (layout.protocol >= 0 && !isAbsent(text, layout.protocol)) {
    protocol = uintAt(text, layout.protocol, MAX_PROTOCOL);
    if (protocol < 0) return rejectUnlessHeader(original, 'bad_protocol');
  }
  let packets = 0;
  if (layout.packets >= 0 && !isAbsent(text, layout.packets)) {
    packets = uintAt(text, layout.packets, Number.MAX_SAFE_INTEGER);
    if (packets < 0) return rejectUnlessHeader(original, 'bad_count');
  }
  let bytes = 0;
  if (layout.bytes >= 0 && !isAbsent(text, layout.bytes)) {
    bytes = uintAt(text, layout.bytes, Number.MAX_SAFE_INTEGER);
    if (bytes < 0) return rejectUnlessHeader(original, 'bad_count');
  }
  let tcpFlags: number | null = null;
  if (layout.tcpFlags >= 0 && !isAbsent(text, layout.tcpFlags)) {
    tcpFlags = uintAt(text, layout.tcpFlags, MAX_TCP_FLAGS);
    if (tcpFlags < 0) return rejectUnlessHeader(original, 'bad_tcp_flags');
  }
  let flowDirection: string | null = null;
  if (layout.flowDirection >= 0 && !isAbsent(text, layout.flowDirection)) {
    if (fieldIs(text, layout.flowDirection, 'ingress')) flowDirection = 'ingress';
    else if (fieldIs(text, layout.flowDirection, 'egress')) flowDirection = 'egress';
    else return rejectUnlessHeader(original, 'bad_flow_direction');
  }
  let trafficPath: number | null = null;
  if (layout.trafficPath >= 0 && !isAbsent(text, layout.trafficPath)) {
    trafficPath = uintAt(text, layout.trafficPath, MAX_TRAFFIC_PATH);
    if (trafficPath < 0) return rejectUnlessHeader(original, 'bad_traffic_path');
  }
  let pktSrcAddr: string | null = null;
  if (layout.pktSrcaddr >= 0 && !isAbsent(text, layout.pktSrcaddr)) {
    pktSrcAddr = canonicalIp(fieldText(text, layout.pktSrcaddr));
    if (pktSrcAddr === null) return rejectUnlessHeader(original, 'bad_ip');
  }
  let pktDstAddr: string | null = null;
  if (layout.pktDstaddr >= 0 && !isAbsent(text, layout.pktDstaddr)) {
    pktDstAddr = canonicalIp(fieldText(text, layout.pktDstaddr));
    if (pktDstAddr === null) return rejectUnlessHeader(original, 'bad_ip');
  }

  const o = orient(srcAddr, dstAddr, srcPort, dstPort, tcpFlags, flowDirection);
  // A reply half (o.flip) is stored as its request edge: the logged destination opened, so it becomes `src`,
  // and what the logged source sent is traffic back to the opener. Raw ids stay as logged.
  const flip = o.flip;
  if (into !== null) {
    into.sourceKind = 'vpcflow';
    into.start = start;
    into.end = end;
    into.srcAddr = flip ? dstAddr : srcAddr;
    into.srcPort = flip ? dstPort : srcPort;
    into.dstAddr = flip ? srcAddr : dstAddr;
    into.dstHost = null;
    into.dstPort = flip ? srcPort : dstPort;
    into.protocol = protocol;
    into.action = action;
    into.direction = o.direction;
    into.orientation = o.basis;
    into.reply = flip;
    into.packetsOut = flip ? 0 : packets;
    into.bytesOut = flip ? 0 : bytes;
    into.packetsIn = flip ? packets : 0;
    into.bytesIn = flip ? bytes : 0;
    // Raw ids are not read on the hot path (edges do not keep them); attribution reads them through `parse`.
    into.accountId = null;
    into.interfaceId = null;
    into.instanceId = null;
    into.vpcId = null;
    into.subnetId = null;
    into.flowDirection = flowDirection;
    into.trafficPath = trafficPath;
    into.pktSrcAddr = flip ? pktDstAddr : pktSrcAddr;
    into.pktDstAddr = flip ? pktSrcAddr : pktDstAddr;
    return { kind: 'observation', value: into };
  }
  // One object literal with every Observation field in the order `observation()` sets them, so records from
  // every collector share one hidden class; the factory itself would build a second object per line.
  const value: Observation = {
    sourceKind: 'vpcflow',
    start,
    end,
    srcAddr: flip ? dstAddr : srcAddr,
    srcPort: flip ? dstPort : srcPort,
    dstAddr: flip ? srcAddr : dstAddr,
    dstHost: null,
    dstPort: flip ? srcPort : dstPort,
    protocol,
    action,
    direction: o.direction,
    orientation: o.basis,
    reply: flip,
    packetsOut: flip ? 0 : packets,
    bytesOut: flip ? 0 : bytes,
    packetsIn: flip ? packets : 0,
    bytesIn: flip ? bytes : 0,
    accountId: idAt(text, layout.accountId),
    interfaceId: idAt(text, layout.interfaceId),
    instanceId: idAt(text, layout.instanceId),
    vpcId: idAt(text, layout.vpcId),
    subnetId: idAt(text, layout.subnetId),
    flowDirection,
    trafficPath,
    pktSrcAddr: flip ? pktDstAddr : pktSrcAddr,
    pktDstAddr: flip ? pktSrcAddr : pktDstAddr,
  };
  return { kind: 'observation', value };
}
