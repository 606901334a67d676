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
import { openerByPorts, openerByTcpFlags } from './orient.js';

const SPACE = 0x20;
const DOT = 0x2e;
const CR = 0x0d;

/** What a field is to this parser; the fields it does not read are IGNORED. */
const IGNORED = 0;
const SRCADDR = 1;
const DSTADDR = 2;
const SRCPORT = 3;
const DSTPORT = 4;
const PROTOCOL = 5;
const PACKETS = 6;
const BYTES = 7;
const START = 8;
const END = 9;
const ACTION = 10;
const LOG_STATUS = 11;
const TCP_FLAGS = 12;
const FLOW_DIRECTION = 13;
const TRAFFIC_PATH = 14;
const PKT_ADDR = 15;

const ROLES = new WeakMap<FieldLayout, Uint8Array>();

/** Each field's role under `layout`, in record order (layouts are immutable, so this is computed once each). */
function rolesOf(layout: FieldLayout): Uint8Array {
  let roles = ROLES.get(layout);
  if (roles !== undefined) return roles;
  roles = new Uint8Array(layout.fieldCount);
  const fields: [number, number][] = [
    [layout.srcaddr, SRCADDR],
    [layout.dstaddr, DSTADDR],
    [layout.srcport, SRCPORT],
    [layout.dstport, DSTPORT],
    [layout.protocol, PROTOCOL],
    [layout.packets, PACKETS],
    [layout.bytes, BYTES],
    [layout.start, START],
    [layout.end, END],
    [layout.action, ACTION],
    [layout.logStatus, LOG_STATUS],
    [layout.tcpFlags, TCP_FLAGS],
    [layout.flowDirection, FLOW_DIRECTION],
    [layout.trafficPath, TRAFFIC_PATH],
    [layout.pktSrcaddr, PKT_ADDR],
    [layout.pktDstaddr, PKT_ADDR],
  ];
  for (const [k, role] of fields) if (k >= 0) roles[k] = role;
  ROLES.set(layout, roles);
  return roles;
}

/** Where the last field read ended (a space or the end of the line): the readers' second result. */
let cursor = 0;

/**
 * The decimal integer from `i` to the next space or `to`, or -1 unless it is 1 to 16 digits and at most `max` (as
 * `uintAt` in parse.ts: every 16-digit prefix of a value up to 2^53 is exact, and anything longer is above it).
 */
function readUint(b: Buffer, i: number, to: number, max: number): number {
  const from = i;
  let value = 0;
  for (; i < to; i++) {
    const c = b[i]!;
    if (c === SPACE) break;
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  cursor = i;
  return i === from || i - from > 16 || value > max ? -1 : value;
}

/** A canonical dotted-quad IPv4 address from `i` (as `canonicalIpv4` accepts), unsigned, or -1. */
function readIpv4(b: Buffer, i: number, to: number): number {
  const from = i;
  let address = 0;
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (; ; i++) {
    const c = i === to ? SPACE : b[i]!;
    if (c === DOT || c === SPACE) {
      if (digits === 0 || value > 255) return -1;
      address = address * 256 + value;
      octets++;
      if (c === SPACE) break;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || (digits === 1 && value === 0) || digits === 3) return -1;
    value = value * 10 + (c - 48);
    digits++;
  }
  cursor = i;
  return octets === 4 && i - from <= 15 ? address : -1;
}

/** True when the field at `i` is exactly the ASCII `word`. */
function readWord(b: Buffer, i: number, to: number, word: string): boolean {
  const end = i + word.length;
  if (end > to || (end < to && b[end] !== SPACE)) return false;
  for (let j = 0; j < word.length; j++) if (b[i + j] !== word.charCodeAt(j)) return false;
  cursor = end;
  return true;
}

/** Bytes the text path counts as white space: a line ending in one is re-split on all of them there. */
function isSpaceByte(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13);
}

const NO_SIDE = 0;
const SRC_SIDE = 1;
const DST_SIDE = 2;

/**
 * Reads `b[from, to)` with `layout` into `sink` and returns true, or returns false (see the file comment). One
 * pass: each field is read where it starts, by its role, and only spaces split fields, as in parse.ts. Other
 * bytes stay inside their field, where a field that is read rejects them and one that is not would keep them on
 * the text path too.
 */
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
  const first = b[from]!;
  if (layout.missing.length !== 0 || to === from || (first >= 97 && first <= 122) || isSpaceByte(b[to - 1]!))
    return false;
  const roles = rolesOf(layout);
  let src = -1;
  let dst = -1;
  let srcPort = 0;
  let dstPort = 0;
  let protocol = 0;
  let packets = 0;
  let bytes = 0;
  let start = -1;
  let end = -1;
  let tcpFlags = -1;
  let reject = false;
  let local = NO_SIDE;
  let i = from;
  for (let k = 0; ; k++) {
    if (k === roles.length) return false;
    switch (roles[k]) {
      case IGNORED: {
        let j = i;
        while (j < to && b[j] !== SPACE) j++;
        if (j === i) return false;
        cursor = j;
        break;
      }
      case SRCADDR:
        if ((src = readIpv4(b, i, to)) < 0) return false;
        break;
      case DSTADDR:
        if ((dst = readIpv4(b, i, to)) < 0) return false;
        break;
      case SRCPORT:
        if ((srcPort = readUint(b, i, to, 65535)) < 0) return false;
        break;
      case DSTPORT:
        if ((dstPort = readUint(b, i, to, 65535)) < 0) return false;
        break;
      case PROTOCOL:
        if ((protocol = readUint(b, i, to, 255)) < 0) return false;
        break;
      case PACKETS:
        if ((packets = readUint(b, i, to, Number.MAX_SAFE_INTEGER)) < 0) return false;
        break;
      case BYTES:
        if ((bytes = readUint(b, i, to, Number.MAX_SAFE_INTEGER)) < 0) return false;
        break;
      case START:
        if ((start = readUint(b, i, to, MAX_EPOCH_SECONDS)) < 0) return false;
        break;
      case END:
        if ((end = readUint(b, i, to, MAX_EPOCH_SECONDS)) < 0) return false;
        break;
      case ACTION:
        if (readWord(b, i, to, 'ACCEPT')) reject = false;
        else if (readWord(b, i, to, 'REJECT')) reject = true;
        else return false;
        break;
      case LOG_STATUS:
        if (!readWord(b, i, to, 'OK')) return false;
        break;
      case TCP_FLAGS:
        if ((tcpFlags = readUint(b, i, to, 255)) < 0) return false;
        break;
      case FLOW_DIRECTION:
        // On an ingress record the destination is the interface; on an egress record the source is (orient.ts).
        if (readWord(b, i, to, 'ingress')) local = DST_SIDE;
        else if (readWord(b, i, to, 'egress')) local = SRC_SIDE;
        else return false;
        break;
      case TRAFFIC_PATH:
        if (readUint(b, i, to, 255) < 0) return false;
        break;
      default: // PKT_ADDR: read for validity only, `-` allowed
        if (!readWord(b, i, to, '-') && readIpv4(b, i, to) < 0) return false;
    }
    if (cursor === to) {
      if (k + 1 !== roles.length) return false;
      break;
    }
    i = cursor + 1;
  }
  if (end < 0) end = start;
  else if (end < start) return false;
  if (layout.flowDirection < 0 && isPrivateIpv4(src) !== isPrivateIpv4(dst)) {
    local = isPrivateIpv4(src) ? SRC_SIDE : DST_SIDE;
  }

  // As orient(): a SYN decides the opener, else the ports, else the record is taken as logged.
  const opener =
    (tcpFlags >= 0 ? openerByTcpFlags(tcpFlags) : null) ?? openerByPorts(srcPort, dstPort) ?? 'src';
  const flip = opener === 'dst';
  const openerSide = flip ? DST_SIDE : SRC_SIDE;
  sink.ipv4Flow(
    flip ? dst : src,
    flip ? src : dst,
    flip ? srcPort : dstPort,
    protocol,
    reject,
    local !== NO_SIDE && local !== openerSide,
    flip,
    packets,
    bytes,
    start,
    end,
  );
  return true;
}
