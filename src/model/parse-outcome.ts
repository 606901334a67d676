import type { Observation } from './observation.js';

/**
 * What a line parser returns. Parsers never throw on bad input: a `skip` is intentional (a header line, a
 * `NODATA` record) and is only counted; a `reject` is malformed input and goes to quarantine with its reason.
 * `reason` is always a member of the parser's bounded `as const` list, never an exception message.
 */
export type ParseOutcome<R extends string = string> =
  | { readonly kind: 'observation'; readonly value: Observation }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'reject'; readonly reason: R };

export const ParseOutcome = Object.freeze({
  observation: (value: Observation): ParseOutcome<never> => ({ kind: 'observation', value }),
  skip: (reason: string): ParseOutcome<never> => ({ kind: 'skip', reason }),
  reject: <R extends string>(reason: R): ParseOutcome<R> => ({ kind: 'reject', reason }),
});
