/**
 * The byte-level hot path of the VPC flow log parser (`LineParser.parseBytes`): reads a record straight from the
 * bytes it came in, without a string for the line or its addresses, and hands the oriented flow to the sink.
 *
 * It reads only what it is sure of, the way nearly every line of a real export looks: printable ASCII fields
 * separated by single spaces, status `OK`, IPv4 addresses in canonical dotted form or IPv6 addresses in hex groups,
 * numbers where numbers go. For anything else (a header, NODATA, `-` in a flow field, an IPv6 address with a zone
 * or a dotted tail, a malformed field) it returns false and the caller parses the decoded line with
 * `parseVpcFlowLine`, so skips, rejects and their reasons have one source of truth. A line it accepts gives exactly
 * the edge `parseVpcFlowLine` gives; a property test holds both to that.
 */
import type { FlowSink } from '../../src/model/collector.js';
import { isMappedIpv4, isPrivateIpv4, isPrivateIpv6, readIpv6Bytes } from '../../src/model/ip.js';
import { MAX_EPOCH_SECONDS } from '../../src/model/observation.js';
import type { FieldLayout } from './fields.js';
import { openerByPorts, openerByTcpFlags } from './orient.js';

const SPACE = 0x20;
const DOT = 0x2e;
const CR = 0x0d;
const DASH = 0x2d;

/**
 * What a field is to this parser; the fields it does not read are IGNORED. Numbered so that each way of reading a
 * field is one range: numbers, addresses, words.
 */
const IGNORED = 0;
const SRCPORT = 1;
const DSTPORT = 2;
const PROTOCOL = 3;
const PACKETS = 4;
const BYTES = 5;
const START = 6;
const END = 7;
const TCP_FLAGS = 8;
const TRAFFIC_PATH = 9;
const SRCADDR = 10;
const DSTADDR = 11;
const PKT_ADDR = 12;
const ACTION = 13;
const LOG_STATUS = 14;
const FLOW_DIRECTION = 15;

const ROLES = new WeakMap<FieldLayout, Uint8Array>();

/** Hextets of the IPv6 addresses of the line being read. */
const SRC_V6 = new Uint16Array(8);
const DST_V6 = new Uint16Array(8);
const PKT_V6 = new Uint16Array(8);

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

/** Bytes the text path counts as white space: a line ending in one is re-split on all of them there. */
function isSpaceByte(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13);
}

const NO_SIDE = 0;
const SRC_SIDE = 1;
const DST_SIDE = 2;

/** Longest number read: every 16-digit prefix of a value up to 2^53 is exact, and anything longer is above it. */
const MAX_DIGITS = 16;

/**
 * Reads `b[from, to)` with `layout` into `sink` and returns true, or returns false (see the file comment). One
 * pass with one index: each field is read where it starts, by its role, and only spaces split fields, as in
 * parse.ts. Other bytes stay inside their field, where a field that is read rejects them and one that is not
 * would keep them on the text path too. The readers are written out in the loop rather than called: a reader
 * that returns both a value and where it stopped cost a third of the parse.
 */
export function parseVpcFlowBytes(
  b: Buffer,
  from: number,
  to: number,
  layout: FieldLayout,
  sink: FlowSink,
): boolean {
  // A line starting with a lower-case letter may be a header, and one ending in white space is tidied first:
  // parseVpcFlowLine decides both. A CR before the newline is not part of the line.
  if (to > from && b[to - 1] === CR) to--;
  const first = b[from]!;
  if (layout.missing.length !== 0 || to === from || (first >= 97 && first <= 122) || isSpaceByte(b[to - 1]!))
    return false;
  const roles = rolesOf(layout);
  const last = roles.length - 1;
  let src = -1;
  let dst = -1;
  let srcV6 = false;
  let dstV6 = false;
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
    const role = roles[k]!;
    const at = i;
    if (role !== IGNORED && role <= TRAFFIC_PATH) {
      // A decimal number of 1 to MAX_DIGITS digits, up to the next space.
      let value = 0;
      for (; i < to; i++) {
        const d = b[i]! - 48;
        if (d >>> 0 > 9) {
          if (d !== SPACE - 48) return false;
          break;
        }
        value = value * 10 + d;
      }
      if (i === at || i - at > MAX_DIGITS) return false;
      switch (role) {
        case SRCPORT:
          if (value > 65535) return false;
          srcPort = value;
          break;
        case DSTPORT:
          if (value > 65535) return false;
          dstPort = value;
          break;
        case PROTOCOL:
          if (value > 255) return false;
          protocol = value;
          break;
        case PACKETS:
          if (value > Number.MAX_SAFE_INTEGER) return false;
          packets = value;
          break;
        case BYTES:
          if (value > Number.MAX_SAFE_INTEGER) return false;
          bytes = value;
          break;
        case START:
          if (value > MAX_EPOCH_SECONDS) return false;
          start = value;
          break;
        case END:
          if (value > MAX_EPOCH_SECONDS) return false;
          end = value;
          break;
        case TCP_FLAGS:
          if (value > 255) return false;
          tcpFlags = value;
          break;
        default: // TRAFFIC_PATH: read for validity only
          if (value > 255) return false;
      }
    } else if (role >= SRCADDR && role <= PKT_ADDR) {
      if (role === PKT_ADDR && b[i] === DASH && (i + 1 === to || b[i + 1] === SPACE)) {
        i++;
      } else {
        let address = -1;
        dottedQuad: {
          // A canonical dotted quad (as `canonicalIpv4` accepts): four octets of 1 to 3 digits, no leading zero.
          let value4 = 0;
          for (let octet = 0; ; octet++) {
            const o = i;
            let value = 0;
            for (; i < to; i++) {
              const d = b[i]! - 48;
              if (d >>> 0 > 9) break;
              value = value * 10 + d;
            }
            const digits = i - o;
            if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && b[o] === 48)) break dottedQuad;
            value4 = value4 * 256 + value;
            if (octet === 3) break;
            if (i === to || b[i] !== DOT) break dottedQuad;
            i++;
          }
          if (i < to && b[i] !== SPACE) break dottedQuad;
          address = value4;
        }
        let v6 = false;
        if (address < 0) {
          // IPv6: its hextets wait in a scratch array until the whole line has been read.
          const hextets = role === SRCADDR ? SRC_V6 : role === DSTADDR ? DST_V6 : PKT_V6;
          i = readIpv6Bytes(b, at, to, hextets);
          if (i < 0) return false;
          if (isMappedIpv4(hextets)) address = hextets[6]! * 65536 + hextets[7]!;
          else v6 = true;
        }
        if (role === SRCADDR) {
          src = address;
          srcV6 = v6;
        } else if (role === DSTADDR) {
          dst = address;
          dstV6 = v6;
        }
      }
    } else if (role === IGNORED) {
      // Up to a space; a control byte (a tab separates fields on the text path) leaves the line to it.
      for (; i < to; i++) {
        const c = b[i]!;
        if (c <= SPACE) {
          if (c === SPACE) break;
          return false;
        }
      }
      if (i === at) return false;
    } else {
      // A word: ACCEPT or REJECT, OK, ingress or egress.
      while (i < to && b[i] !== SPACE) i++;
      const n = i - at;
      if (role === ACTION) {
        if (n !== 6) return false;
        if (isWord(b, at, ACCEPT)) reject = false;
        else if (isWord(b, at, REJECT)) reject = true;
        else return false;
      } else if (role === LOG_STATUS) {
        if (n !== 2 || b[at] !== 0x4f || b[at + 1] !== 0x4b) return false;
      } else if (n === 7 && isWord(b, at, INGRESS)) {
        // On an ingress record the destination is the interface; on an egress record the source is (orient.ts).
        local = DST_SIDE;
      } else if (n === 6 && isWord(b, at, EGRESS)) {
        local = SRC_SIDE;
      } else {
        return false;
      }
    }
    if (i === to) {
      if (k !== last) return false;
      break;
    }
    if (k === last) return false;
    i++;
  }
  if (end < 0) end = start;
  else if (end < start) return false;
  if (layout.flowDirection < 0) {
    const srcPrivate = srcV6 ? isPrivateIpv6(SRC_V6) : isPrivateIpv4(src);
    if (srcPrivate !== (dstV6 ? isPrivateIpv6(DST_V6) : isPrivateIpv4(dst)))
      local = srcPrivate ? SRC_SIDE : DST_SIDE;
  }
  // Only now that the line is read whole does the sink hear of its IPv6 addresses.
  if (srcV6) src = sink.ipv6Key(SRC_V6);
  if (dstV6) dst = sink.ipv6Key(DST_V6);

  // As orient(): a SYN decides the opener, else the ports, else the record is taken as logged.
  const opener =
    (tcpFlags >= 0 ? openerByTcpFlags(tcpFlags) : null) ?? openerByPorts(srcPort, dstPort) ?? 'src';
  const flip = opener === 'dst';
  const openerSide = flip ? DST_SIDE : SRC_SIDE;
  sink.flow(
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

const ACCEPT = wordBytes('ACCEPT');
const REJECT = wordBytes('REJECT');
const INGRESS = wordBytes('ingress');
const EGRESS = wordBytes('egress');

function wordBytes(word: string): Uint8Array {
  return Uint8Array.from(word, (c) => c.charCodeAt(0));
}

/** True when `b` holds `word` from `at` (the caller has checked the field's length). */
function isWord(b: Buffer, at: number, word: Uint8Array): boolean {
  for (let j = 0; j < word.length; j++) if (b[at + j] !== word[j]) return false;
  return true;
}
