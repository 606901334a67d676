import type { Observation, SourceKind } from './observation.js';
import type { ParseOutcome } from './parse-outcome.js';

/**
 * Parses the lines of one source, in order. Most formats are stateless; VPC flow logs keep the field
 * layout announced by a header line. `parse` never throws on bad input.
 */
export interface LineParser {
  parse(text: string): ParseOutcome;
  /**
   * State that must survive a resume from a checkpoint (a VPC flow header seen at line 1 governs line 9 000 000),
   * or null when there is none. Saved with the checkpoint, in the same transaction as the data.
   */
  snapshot?(): string | null;
  /**
   * The same as `parse`, but an observation is written into `into` and returned as the outcome's value instead
   * of a new object. For the ingest hot path, which reads the fields at once: the result is only valid until
   * the next call.
   */
  parseInto?(text: string, into: ObservationScratch): ParseOutcome;
  /**
   * The ingest hot path for formats whose common lines are plain ASCII records: reads the line `bytes[from, to)`
   * without decoding it and hands its flow to `sink`, returning true; or returns false, having changed nothing,
   * for any line it does not read exactly as `parse` would (a header, a skip, a reject, an address written
   * unusually …), which the caller then decodes and passes to `parse`. A line it accepts must give the edge `parse`
   * gives.
   */
  parseBytes?(bytes: Buffer, from: number, to: number, sink: FlowSink): boolean;
}

/**
 * Receives a flow that `LineParser.parseBytes` read: already oriented as an `Observation` is (source = opener;
 * a reply half flipped, its traffic counted as received), a port or protocol the format lacks as 0. An address is
 * an IPv4 address as its unsigned 32-bit number, or a key that `ipv6Key` gave (2^32 and up) for an IPv6 one.
 */
export interface FlowSink {
  /**
   * The key of an IPv6 address, given as its 8 hextets (an IPv4-mapped address is never given: it is its IPv4
   * number). The array is the caller's and is reused: keep what it says, not it.
   */
  ipv6Key(hextets: Uint16Array): number;
  flow(
    src: number,
    dst: number,
    dstPort: number,
    protocol: number,
    reject: boolean,
    ingress: boolean,
    reply: boolean,
    packets: number,
    bytes: number,
    start: number,
    end: number,
  ): void;
}

/** Address keys at or above this come from `FlowSink.ipv6Key`; below it they are IPv4 numbers. */
export const IPV6_KEYS = 2 ** 32;

/** A reusable, writable observation for `LineParser.parseInto`. */
export type ObservationScratch = { -readonly [K in keyof Observation]: Observation[K] };

/** A format-specific option, shown in `collect <format> --help` and passed to `createParser`. */
export interface CollectorOption {
  /** commander flag syntax, e.g. `--fields <list>`. */
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: string;
}

/**
 * What a collector tells the rest of the program about itself: the CLI builds `collect <name> --help`
 * from it and the ingest loop (and its worker threads) create parsers through it.
 */
export interface CollectorDescriptor {
  /** CLI noun: `collect <name>`. */
  readonly name: string;
  readonly sourceKind: SourceKind;
  readonly description: string;
  /** One real line of the format, quoted in help. */
  readonly sample: string;
  readonly options: readonly CollectorOption[];
  /** Options are plain strings keyed by commander's camel-cased option name (`--fields` → `fields`). */
  createParser(
    options: Readonly<Record<string, string | undefined>>,
    resumeState?: string | null,
  ): LineParser;
}
