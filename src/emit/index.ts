/** Every output kind `suggest --kinds` knows, in the order they are written. */
import { emitAwsSecurityGroups } from './aws-sg.js';
import { emitCilium } from './cilium.js';
import type { Generator } from './document.js';
import { emitEgressRuleSets } from './egressruleset.js';
import { emitEksPodSecurityGroups } from './eks-pod-sg.js';
import { emitExoscaleSecurityGroups } from './exoscale-sg.js';
import { emitNetworkPolicies } from './networkpolicy.js';
import { emitSquidConf } from './squid-conf.js';

export const OUTPUT_KINDS = [
  'egressruleset',
  'squid',
  'networkpolicy',
  'cilium',
  'aws-sg',
  'exoscale-sg',
  'eks-pod-sg',
] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

export const GENERATORS: Record<OutputKind, Generator> = {
  egressruleset: emitEgressRuleSets,
  squid: emitSquidConf,
  networkpolicy: emitNetworkPolicies,
  cilium: emitCilium,
  'aws-sg': emitAwsSecurityGroups,
  'exoscale-sg': emitExoscaleSecurityGroups,
  'eks-pod-sg': emitEksPodSecurityGroups,
};
