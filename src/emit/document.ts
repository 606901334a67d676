/**
 * What every generator returns: files for review, relative to `suggest --out`. Generators are pure (same result →
 * same bytes); the CLI writes the files.
 */
import type { InferenceResult } from '../model/endpoint.js';

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
