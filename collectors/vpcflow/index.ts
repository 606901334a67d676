/**
 * The `vpc-flow` collector: AWS VPC flow log records (default version 2 format or a custom v3–v8 format), from
 * S3 exports (gzipped files that begin with a header line) or CloudWatch Logs exports (no header; pass
 * `--fields`). See https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html.
 */
import type {
  CollectorDescriptor,
  FlowSink,
  LineParser,
  ObservationScratch,
} from '../../src/model/collector.js';
import { UsageError } from '../../src/model/errors.js';
import { ParseOutcome } from '../../src/model/parse-outcome.js';
import type { FieldLayout } from './fields.js';
import { DEFAULT_LAYOUT, layoutOf, parseFieldList } from './fields.js';
import type { VpcFlowRejectReason } from './parse.js';
import { parseVpcFlowHeader, parseVpcFlowLineInto } from './parse.js';
import { parseVpcFlowBytes } from './parse-bytes.js';

export { DEFAULT_LAYOUT, KNOWN_FIELDS, V2_FIELDS, parseFieldList } from './fields.js';
export type { FieldLayout } from './fields.js';
export {
  VPC_FLOW_REJECT_REASONS,
  VPC_FLOW_SKIP_REASONS,
  parseVpcFlowHeader,
  parseVpcFlowLine,
} from './parse.js';
export type { VpcFlowRejectReason, VpcFlowSkipReason } from './parse.js';

/** The column a CloudWatch Logs export to S3 puts before each record: when CloudWatch received it. */
const CLOUDWATCH_TIME = 'timestamp';
const CLOUDWATCH_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}) /;

const STAMPED = new WeakMap<FieldLayout, FieldLayout>();

/** `layout` with CloudWatch's time column in front, built once per layout (layouts are immutable). */
function stampedLayout(layout: FieldLayout): FieldLayout {
  let stamped = STAMPED.get(layout);
  if (stamped === undefined) STAMPED.set(layout, (stamped = layoutOf([CLOUDWATCH_TIME, ...layout.names])));
  return stamped;
}

/**
 * Reads the lines of one input in order. It starts with the `--fields` layout (or the version 2 default), and a
 * header line anywhere replaces the layout for the lines after it: `cat`-ing several S3 export files into stdin
 * yields one header per file, and the files may have been written with different formats. A record with one
 * field too many that starts with an RFC 3339 time is a CloudWatch Logs export's: the layout gains that column in
 * front for the lines after it.
 */
export class VpcFlowLineParser implements LineParser {
  #layout: FieldLayout;
  /** The layout came from the input (a header line, a CloudWatch time column), not from `--fields` or the default. */
  #fromInput: boolean;

  constructor(layout: FieldLayout = DEFAULT_LAYOUT, fromInput = false) {
    this.#layout = layout;
    this.#fromInput = fromInput;
  }

  /** The layout the next record will be read with. */
  get layout(): FieldLayout {
    return this.#layout;
  }

  parse(text: string): ParseOutcome<VpcFlowRejectReason> {
    return this.parseInto(text, null);
  }

  parseInto(text: string, into: ObservationScratch | null): ParseOutcome<VpcFlowRejectReason> {
    const outcome = parseVpcFlowLineInto(text, this.#layout, into);
    if (outcome.kind === 'reject' && outcome.reason === 'field_count')
      return this.#cloudWatch(text, into) ?? outcome;
    if (outcome.kind !== 'skip' || outcome.reason !== 'header') return outcome;
    // Not null: parseVpcFlowLine only reports `header` for a line parseVpcFlowHeader reads.
    const layout = parseVpcFlowHeader(text)!;
    this.#layout = layout;
    this.#fromInput = true;
    // A header that lacks a required field is kept (so its records are rejected, not misread with the old
    // layout) and is itself quarantined, where the reason points at it.
    return layout.missing.length === 0 ? outcome : ParseOutcome.reject('layout_missing_field');
  }

  /** `text` read as a CloudWatch Logs export's line, which then sets the layout; null when it is not one. */
  #cloudWatch(text: string, into: ObservationScratch | null): ParseOutcome<VpcFlowRejectReason> | null {
    if (this.#layout.names[0] === CLOUDWATCH_TIME || !CLOUDWATCH_TIME_RE.test(text)) return null;
    const layout = stampedLayout(this.#layout);
    const outcome = parseVpcFlowLineInto(text, layout, into);
    if (outcome.kind === 'reject') return null;
    this.#layout = layout;
    this.#fromInput = true;
    return outcome;
  }

  parseBytes(bytes: Buffer, from: number, to: number, sink: FlowSink): boolean {
    return parseVpcFlowBytes(bytes, from, to, this.#layout, sink);
  }

  /**
   * The layout the input announced (a header, a CloudWatch time column), so a resumed read of line 9 000 000 uses the header of line 1. A layout from
   * `--fields` is not state: a run resumed with other `--fields` (a Kafka consumer restarted after its records
   * were all rejected) reads with those.
   */
  snapshot(): string | null {
    return this.#fromInput ? this.#layout.names.join(' ') : null;
  }
}

export const vpcFlowCollector: CollectorDescriptor = Object.freeze({
  name: 'vpc-flow',
  sourceKind: 'vpcflow',
  description: 'AWS VPC flow logs (default or custom format, S3 or CloudWatch Logs exports)',
  sample:
    '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
  options: Object.freeze([
    Object.freeze({
      flags: '--fields <list>',
      description:
        'field order when the input has no header line (default: version 2 order); space- or comma-separated ' +
        'names, or the flow log format string (${version} ${srcaddr} …)',
    }),
  ]),
  createParser(
    options: Readonly<Record<string, string | undefined>>,
    resumeState?: string | null,
  ): LineParser {
    // validated when it was saved: it is the names of a layout this parser was using
    if (resumeState) return new VpcFlowLineParser(layoutOf(resumeState.split(' ')), true);
    const fields = options['fields'];
    if (fields === undefined) return new VpcFlowLineParser();
    const result = parseFieldList(fields);
    if (!result.ok) throw new UsageError(`--fields: ${result.error}`, 'bad_fields');
    return new VpcFlowLineParser(result.layout);
  },
});
