/**
 * What every generator returns: files for review, relative to `suggest --out`. Generators are pure (same result →
 * same bytes); the CLI writes the files.
 */
import type { Endpoint, InferenceResult } from '../model/endpoint.js';

export interface EmittedFile {
  /** Relative path with `/` separators, made only of safe characters (see `safeFileName`). */
  readonly path: string;
  readonly content: string;
}

export interface EmitOptions {
  /** One document per namespace or per workload, where the output kind has the choice (EgressRuleSet). */
  readonly scope: 'namespace' | 'workload';
  /** Fingerprints of candidates a reviewer accepted / rejected (review decisions); empty when none. */
  readonly accepted: ReadonlySet<string>;
  readonly rejected: ReadonlySet<string>;
}

export type Generator = (result: InferenceResult, options: EmitOptions) => EmittedFile[];

/**
 * A reviewer's accept overrides thresholds and suspicion flags: the person looked at the evidence and said the
 * workload needs it, so every generator enables it (and marks it accepted). Rejected endpoints are left to the
 * generators, which leave them out.
 */
export function applyAccepted(result: InferenceResult, accepted: ReadonlySet<string>): InferenceResult {
  if (accepted.size === 0) return result;
  const endpoints = result.endpoints.map((e): Endpoint =>
    accepted.has(e.id) ? { ...e, rare: false, suspicions: [] } : e,
  );
  return { ...result, endpoints };
}
