import { Command, Option } from 'commander';
import { connectivity, formatConnlistJson } from '../audit/connectivity.js';
import { readManifests } from '../audit/manifests.js';
import { writeRows } from './output.js';

/** `audit connectivity` prints a list of pairs; JSON keeps the nested `allowed` ranges, the table its text. */
const CONNECTIVITY_FORMATS = ['table', 'json'] as const;
type ConnectivityFormat = (typeof CONNECTIVITY_FORMATS)[number];

/** `audit`: check policies before they are enforced. */
export function auditCommand(): Command {
  const cmd = new Command('audit').description('evaluate Kubernetes NetworkPolicies against workloads');
  cmd.addCommand(connectivityCommand());
  return cmd;
}

function connectivityCommand(): Command {
  return new Command('connectivity')
    .description(
      'list the connections the NetworkPolicies in a folder of manifests allow between its workloads and external addresses',
    )
    .argument('<path>', 'folder (searched recursively for *.yaml, *.yml, *.json) or one manifest file')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(CONNECTIVITY_FORMATS).default('table'),
    )
    .addHelpText(
      'after',
      `
Pairs that are not listed may not connect at all. A workload is <namespace>/<name>[<Kind>]; an external peer is
an address range, cut at the bounds of the ipBlocks the policies name.

Examples:
  egress-learner audit connectivity k8s/manifests/
  egress-learner audit connectivity k8s/manifests/ -o json | jq '.[] | select(.dst | startswith("payments/"))'`,
    )
    .action((path: string, opts: { output: ConnectivityFormat }) => {
      const entries = connectivity(readManifests(path));
      if (opts.output === 'json') {
        process.stdout.write(formatConnlistJson(entries));
        return;
      }
      writeRows(
        process.stdout,
        entries.map((e) => ({ src: e.src, dst: e.dst, conn: e.conn })),
        ['src', 'dst', 'conn'],
        'table',
      );
    });
}
