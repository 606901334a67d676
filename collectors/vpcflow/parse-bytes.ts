/**
 * The byte-level hot path of the VPC flow log parser (`LineParser.parseBytes`): reads a record straight from the
 * bytes it came in, without a string for the line or its addresses, and hands the oriented flow to the sink.
 *
 * It reads only what it is sure of, the way nearly every line of a real export looks: printable ASCII fields
 * separated by single spaces, status `OK`, IPv4 addresses in canonical dotted form, numbers where numbers go. For
 * anything else (a header, NODATA, `-` in a flow field, IPv6, CRLF, a malformed field) it returns false and the
 * caller parses the decoded line with `parseVpcFlowLine`, so skips, rejects and their reasons have one source of
 * truth. A line it accepts gives exactly the edge `parseVpcFlowLine` gives; a property test holds both to that.
 */
import type { Ipv4FlowSink } from '../../src/model/collector.js';
import { isPrivateIpv4 } from '../../src/model/ip.js';
import { MAX_EPOCH_SECONDS } from '../../src/model/observation.js';
import type { FieldLayout } from './fields.js';
import { openerByPorts, openerByTcpFlags, type LoggedSide } from './orient.js';

const MAX_FIELDS = 255;
/** Field `k` spans `[START[k], START[k + 1] - 1)`; shared scratch, as in parse.ts (parsing is never re-entered). */
const START = new Int32Array(MAX_FIELDS + 2);

const SPACE = 0x20;
const DASH = 0x2d;
const DOT = 0x2e;
const CR = 0x0d;

/**
 * Records field starts and returns the count, or -1 when a field is empty (doubled, leading or trailing space).
 * Only spaces split, as in parse.ts: other bytes stay inside their field, where a field that is read rejects them
 * and one that is not read would keep them on the text path too.
 */
function scanFields(b: Buffer, from: number, to: number): number {
  let count = 1;
  let fieldStart = from;
  START[0] = from;
  for (let i = from; i < to; i++) {
    if (b[i] !== SPACE) continue;
    if (i === fieldStart || count === MAX_FIELDS) return -1;
    fieldStart = i + 1;
    START[count++] = fieldStart;
  }
  if (fieldStart === to) return -1;
  START[count] = to + 1;
  return count;
}

/** Bytes the text path counts as white space: a line ending in one is re-split on all of them there. */
function isSpaceByte(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13);
}

/** Field `k` as a decimal integer no larger than `max`, or -1 (see `uintAt` in parse.ts: at most 16 digits). */
function uintAt(b: Buffer, k: number, max: number): number {
  const from = START[k]!;
  const to = START[k + 1]! - 1;
  if (to - from > 16) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = b[i]! - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value > max ? -1 : value;
}

/** Field `k` as a canonical dotted-quad IPv4 address (as `canonicalIpv4` accepts), unsigned, or -1. */
function ipv4At(b: Buffer, k: number): number {
  const from = START[k]!;
  const to = START[k + 1]! - 1;
  if (to - from < 7 || to - from > 15) return -1;
  let address = 0;
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? DOT : b[i]!;
    if (c === DOT) {
      if (digits === 0 || value > 255) return -1;
      address = address * 256 + value;
      octets++;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || (digits === 1 && value === 0) || digits === 3) return -1;
    value = value * 10 + (c - 48);
    digits++;
  }
  return octets === 4 ? address : -1;
}

function isDash(b: Buffer, k: number): boolean {
  const from = START[k]!;
  return START[k + 1]! - from === 2 && b[from] === DASH;
}

/** True when field `k` is exactly the ASCII `word`. */
function fieldIs(b: Buffer, k: number, word: string): boolean {
  const from = START[k]!;
  if (START[k + 1]! - 1 - from !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[from + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** An optional address field (pkt-srcaddr, pkt-dstaddr): absent, `-` or a canonical IPv4 address. */
function optionalIpv4Ok(b: Buffer, k: number): boolean {
  return k < 0 || isDash(b, k) || ipv4At(b, k) >= 0;
}

/** Reads `b[from, to)` with `layout` into `sink` and returns true, or returns false (see the file comment). */
export function parseVpcFlowBytes(
  b: Buffer,
  from: number,
  to: number,
  layout: FieldLayout,
  sink: Ipv4FlowSink,
): boolean {
  // A line starting with a lower-case letter may be a header, and one ending in white space is tidied first:
  // parseVpcFlowLine decides both. A CR before the newline is not part of the line.
  if (to > from && b[to - 1] === CR) to--;
  const first = b[from];
  if (layout.missing.length !== 0 || to === from || (first! >= 97 && first! <= 122)) return false;
  if (isSpaceByte(b[to - 1]!) || scanFields(b, from, to) !== layout.fieldCount) return false;
  if (layout.logStatus >= 0 && !fieldIs(b, layout.logStatus, 'OK')) return false;
  const src = ipv4At(b, layout.srcaddr);
  const dst = ipv4At(b, layout.dstaddr);
  if (src < 0 || dst < 0) return false;
  let reject: boolean;
  if (fieldIs(b, layout.action, 'ACCEPT')) reject = false;
  else if (fieldIs(b, layout.action, 'REJECT')) reject = true;
  else return false;
  const start = uintAt(b, layout.start, MAX_EPOCH_SECONDS);
  if (start < 0) return false;
  const end = layout.end >= 0 ? uintAt(b, layout.end, MAX_EPOCH_SECONDS) : start;
  if (end < start) return false;
  const srcPort = layout.srcport >= 0 ? uintAt(b, layout.srcport, 65535) : 0;
  const dstPort = layout.dstport >= 0 ? uintAt(b, layout.dstport, 65535) : 0;
  const protocol = layout.protocol >= 0 ? uintAt(b, layout.protocol, 255) : 0;
  const packets = layout.packets >= 0 ? uintAt(b, layout.packets, Number.MAX_SAFE_INTEGER) : 0;
  const bytes = layout.bytes >= 0 ? uintAt(b, layout.bytes, Number.MAX_SAFE_INTEGER) : 0;
  if (srcPort < 0 || dstPort < 0 || protocol < 0 || packets < 0 || bytes < 0) return false;
  // -1: the format has no tcp-flags, which says nothing about the opener.
  const tcpFlags = layout.tcpFlags >= 0 ? uintAt(b, layout.tcpFlags, 255) : -1;
  if (layout.tcpFlags >= 0 && tcpFlags < 0) return false;
  let local: LoggedSide | null = null;
  if (layout.flowDirection >= 0) {
    if (fieldIs(b, layout.flowDirection, 'ingress')) local = 'dst';
    else if (fieldIs(b, layout.flowDirection, 'egress')) local = 'src';
    else return false;
  } else if (isPrivateIpv4(src) !== isPrivateIpv4(dst)) {
    local = isPrivateIpv4(src) ? 'src' : 'dst';
  }
  if (layout.trafficPath >= 0 && uintAt(b, layout.trafficPath, 255) < 0) return false;
  if (!optionalIpv4Ok(b, layout.pktSrcaddr) || !optionalIpv4Ok(b, layout.pktDstaddr)) return false;

  // As orient(): a SYN decides the opener, else the ports, else the record is taken as logged.
  const opener =
    (tcpFlags >= 0 ? openerByTcpFlags(tcpFlags) : null) ?? openerByPorts(srcPort, dstPort) ?? 'src';
  const flip = opener === 'dst';
  sink.ipv4Flow(
    flip ? dst : src,
    flip ? src : dst,
    flip ? srcPort : dstPort,
    protocol,
    reject,
    local !== null && local !== opener,
    flip,
    packets,
    bytes,
    start,
    end,
  );
  return true;
}
