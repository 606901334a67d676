/**
 * The field names of AWS VPC flow log records and the layout (field order) a record is read with.
 *
 * Field names and the versions that introduced them follow the "Available fields" table of the VPC user guide
 * (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html#flow-logs-fields). The default format
 * is exactly the version 2 fields in table order and cannot be changed; any other order is a custom format,
 * which S3 exports announce in a header line and CloudWatch Logs exports do not announce at all.
 */

/** Version 2: the default format, in its fixed order. */
export const V2_FIELDS = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
] as const;

/**
 * Every field name of flow log versions 2–8. v3: ids and `tcp-flags`, `type`, `pkt-*addr`; v4: location;
 * v5: AWS service names, `flow-direction`, `traffic-path`; v7: the ECS task metadata; v8: `reject-reason`.
 */
export const KNOWN_FIELDS = [
  ...V2_FIELDS,
  // version 3
  'vpc-id',
  'subnet-id',
  'instance-id',
  'tcp-flags',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  // version 4
  'region',
  'az-id',
  'sublocation-type',
  'sublocation-id',
  // version 5
  'pkt-src-aws-service',
  'pkt-dst-aws-service',
  'flow-direction',
  'traffic-path',
  // version 7
  'ecs-cluster-arn',
  'ecs-cluster-name',
  'ecs-container-instance-arn',
  'ecs-container-instance-id',
  'ecs-container-id',
  'ecs-second-container-id',
  'ecs-service-name',
  'ecs-task-definition-arn',
  'ecs-task-arn',
  'ecs-task-id',
  // version 8
  'reject-reason',
] as const;
export type KnownField = (typeof KNOWN_FIELDS)[number];

const KNOWN_FIELD_SET: ReadonlySet<string> = new Set(KNOWN_FIELDS);

/** Fields without which a record cannot become an observation: who talked to whom, when, and was it allowed. */
export const REQUIRED_FIELDS = ['srcaddr', 'dstaddr', 'start', 'action'] as const;
export type RequiredField = (typeof REQUIRED_FIELDS)[number];

/**
 * Where each field the parser reads sits in a record (0-based token index, `-1` when the format lacks it).
 * Every other field is carried in `names` only: it is counted for the field count and otherwise ignored.
 */
export interface FieldLayout {
  /** The field names in record order, as given. */
  readonly names: readonly string[];
  /** Tokens a record of this layout has. */
  readonly fieldCount: number;
  readonly accountId: number;
  readonly interfaceId: number;
  readonly srcaddr: number;
  readonly dstaddr: number;
  readonly srcport: number;
  readonly dstport: number;
  readonly protocol: number;
  readonly packets: number;
  readonly bytes: number;
  readonly start: number;
  readonly end: number;
  readonly action: number;
  readonly logStatus: number;
  readonly vpcId: number;
  readonly subnetId: number;
  readonly instanceId: number;
  readonly tcpFlags: number;
  readonly pktSrcaddr: number;
  readonly pktDstaddr: number;
  readonly flowDirection: number;
  readonly trafficPath: number;
  /**
   * Required fields the layout lacks. A layout with any is kept (a header line announced it) but unusable:
   * every record read with it is rejected as `layout_missing_field` until a usable header replaces it.
   */
  readonly missing: readonly RequiredField[];
}

/**
 * A field name as AWS spells them: lower case, digits and hyphens, starting with a letter. Names we do not know
 * but that look like this are accepted and ignored, so a field AWS adds later does not break reading.
 */
const FIELD_NAME = /^[a-z][a-z0-9-]*$/;

export function isFieldName(token: string): boolean {
  return FIELD_NAME.test(token);
}

export function isKnownField(token: string): token is KnownField {
  return KNOWN_FIELD_SET.has(token);
}

/** Builds the layout of a list of field names. The names must be well formed and unique (not checked here). */
export function layoutOf(names: readonly string[]): FieldLayout {
  const at = (name: KnownField): number => names.indexOf(name);
  const missing: RequiredField[] = [];
  for (const required of REQUIRED_FIELDS) if (!names.includes(required)) missing.push(required);
  return Object.freeze({
    names: Object.freeze([...names]),
    fieldCount: names.length,
    accountId: at('account-id'),
    interfaceId: at('interface-id'),
    srcaddr: at('srcaddr'),
    dstaddr: at('dstaddr'),
    srcport: at('srcport'),
    dstport: at('dstport'),
    protocol: at('protocol'),
    packets: at('packets'),
    bytes: at('bytes'),
    start: at('start'),
    end: at('end'),
    action: at('action'),
    logStatus: at('log-status'),
    vpcId: at('vpc-id'),
    subnetId: at('subnet-id'),
    instanceId: at('instance-id'),
    tcpFlags: at('tcp-flags'),
    pktSrcaddr: at('pkt-srcaddr'),
    pktDstaddr: at('pkt-dstaddr'),
    flowDirection: at('flow-direction'),
    trafficPath: at('traffic-path'),
    missing: Object.freeze(missing),
  });
}

/** The default (version 2) format: what a record without a header line and without `--fields` is read with. */
export const DEFAULT_LAYOUT: FieldLayout = layoutOf(V2_FIELDS);

export type FieldListResult =
  { readonly ok: true; readonly layout: FieldLayout } | { readonly ok: false; readonly error: string };

/**
 * Reads a field list as a user writes it: space- or comma-separated names (`version srcaddr dstaddr …`,
 * `version,srcaddr,…`) or the AWS `LogFormat` string (`${version} ${srcaddr} …`, as in `aws ec2
 * create-flow-logs --log-format`). Returns the layout, or a one-line reason fit for a usage error.
 */
export function parseFieldList(text: string): FieldListResult {
  const tokens = text.split(/[\s,]+/).filter((t) => t !== '');
  if (tokens.length === 0) return { ok: false, error: 'the field list is empty' };
  const names: string[] = [];
  for (const token of tokens) {
    const name = token.startsWith('${') && token.endsWith('}') ? token.slice(2, -1) : token;
    if (!isFieldName(name)) return { ok: false, error: `"${cut(token)}" is not a flow log field name` };
    if (names.includes(name)) return { ok: false, error: `field "${name}" is listed twice` };
    names.push(name);
  }
  const layout = layoutOf(names);
  if (layout.missing.length > 0) {
    return {
      ok: false,
      error: `the field list lacks ${layout.missing.join(', ')} (needed for every record)`,
    };
  }
  return { ok: true, layout };
}

function cut(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
