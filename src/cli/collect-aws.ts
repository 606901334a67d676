import { readWholeText } from '../../collectors/sources/open.js';
import { Command, Option } from 'commander';
import { parseAwsDocument, type AwsReject } from '../../collectors/cloud/aws-inventory.js';
import type {
  CloudPrefixRecord,
  NetworkInterfaceRecord,
  SecurityGroupRecord,
  VpcCidrRecord,
} from '../model/cloud-inventory.js';
import { InputError, UsageError } from '../model/errors.js';
import { CloudInventoryStore, type CloudImportCounts } from '../store/attribution-cloud.js';
import type { Store } from '../store/store.js';
import { openForWrite, say, type GlobalOptions } from './context.js';
import { FUTURE_SKEW_SECONDS, isoTime, parseInstant } from './time-window.js';

/** One input file of `collect aws-inventory`: what it was and what it held. */
export interface AwsFileSummary {
  readonly path: string;
  readonly document: string;
  readonly items: number;
  readonly rejected: number;
  readonly rejects: readonly AwsReject[];
}

export interface AwsImportSummary {
  readonly files: readonly AwsFileSummary[];
  readonly stored: CloudImportCounts;
}

/**
 * Reads AWS CLI JSON documents (describe-network-interfaces or -instances, describe-security-groups,
 * describe-vpcs, describe-subnets) and ip-ranges.json, and stores them in one transaction, as of `at`. Every file
 * is read and parsed before anything is written, so an unreadable file leaves the database as it was.
 */
export async function importAwsFiles(
  store: Store,
  paths: readonly string[],
  at: number,
): Promise<AwsImportSummary> {
  const enis: NetworkInterfaceRecord[] = [];
  const groups: SecurityGroupRecord[] = [];
  const cidrs: VpcCidrRecord[] = [];
  let prefixes: CloudPrefixRecord[] | undefined;
  let syncToken: string | undefined;
  const files: AwsFileSummary[] = [];
  for (const path of paths) {
    const text = await readWholeText(path, 'aws_read');
    const parsed = parseAwsDocument(text);
    if (!parsed.ok) {
      throw new InputError(
        path,
        parsed.reason === 'bad_json'
          ? 'not JSON (expected `aws ec2 describe-… --output json` output or ip-ranges.json)'
          : 'not an AWS inventory document (expected a NetworkInterfaces, Reservations, SecurityGroups, Vpcs, Subnets or prefixes list)',
        'aws_format',
      );
    }
    const d = parsed.document;
    switch (d.kind) {
      case 'network-interfaces':
      case 'instances':
        enis.push(...d.items);
        break;
      case 'security-groups':
        groups.push(...d.items);
        break;
      case 'vpcs':
      case 'subnets':
        cidrs.push(...d.items);
        break;
      case 'ip-ranges':
        prefixes = [...d.items];
        syncToken = d.syncToken;
        break;
    }
    files.push({
      path,
      document: d.kind,
      items: d.items.length,
      rejected: parsed.rejects.length,
      rejects: parsed.rejects,
    });
  }
  const cloud = new CloudInventoryStore(store.db);
  const stored = cloud.import(
    { enis, securityGroups: groups, vpcCidrs: cidrs, cloudPrefixes: prefixes, syncToken },
    at,
  );
  return { files, stored };
}

/** `collect aws-inventory`: ENIs, security groups, VPC CIDRs and AWS service prefixes for attribution. */
export function awsInventoryCommand(now: () => number = () => Date.now() / 1000): Command {
  return new Command('aws-inventory')
    .description(
      'import AWS network interfaces, security groups, VPC/subnet CIDRs and ip-ranges.json so flows attribute to instances',
    )
    .argument(
      '<files...>',
      'JSON files (gzip or not, - for stdin); the kind of each is told by its top-level key',
    )
    .option(
      '--at <time>',
      'when the listings were taken, RFC 3339 or a duration ago (default: now): a flow goes to the interface the last listing before it names',
    )
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addHelpText(
      'after',
      `
Flows whose address is a private IP (primary or secondary) of an ENI, or inside one of its delegated prefixes,
attribute to the instance it is attached to and its security groups when no pod or node holds the address.
VPC and subnet CIDRs classify destinations as VPC-internal; ip-ranges.json prefixes as AWS services (S3, EC2, …).

Examples:
  aws ec2 describe-network-interfaces --output json > enis.json   # or: aws ec2 describe-instances
  aws ec2 describe-security-groups --output json > sgs.json
  aws ec2 describe-vpcs --output json > vpcs.json
  curl -sO https://ip-ranges.amazonaws.com/ip-ranges.json
  egress-learner collect aws-inventory enis.json sgs.json vpcs.json ip-ranges.json
  egress-learner collect aws-inventory --at 2025-03-01T12:00:00Z archive/enis-2025-03-01T12.json`,
    )
    .action(async (paths: string[], opts: { output: string; at?: string }, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const t = now();
      const at = opts.at === undefined ? t : parseInstant(opts.at, t, '--at');
      // A listing from the future would take every address from the real ones imported after it.
      if (at > t + FUTURE_SKEW_SECONDS)
        throw new UsageError(`--at ${isoTime(Math.round(at))} is in the future`, 'aws_future');
      const store = openForWrite(g);
      let summary: AwsImportSummary;
      try {
        summary = await importAwsFiles(store, paths, at);
      } finally {
        store.close();
      }
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (!g.quiet) {
        const s = summary.stored;
        const rejected = summary.files.reduce((n, f) => n + f.rejected, 0);
        say(
          g,
          `aws-inventory: ${s.networkInterfaces} network interfaces (${s.addresses} addresses), ` +
            `${s.securityGroups} security groups, ${s.vpcCidrs} VPC CIDRs, ${s.cloudPrefixes} service prefixes` +
            (rejected > 0 ? `; ${rejected} malformed item${rejected === 1 ? '' : 's'} skipped` : '') +
            '\n',
        );
      }
    });
}
