import type { Migration } from '../migrator.js';

/**
 * What a `suggest` run was narrowed to (`--workload`, `--namespace`, … as JSON; '' for the whole window). A narrowed
 * run is a look at part of the cluster: `review list` and the report's added/removed rules compare whole runs, so
 * an ad-hoc look at one workload no longer reads as every other rule removed.
 */
export const migration0013: Migration = {
  version: 13,
  name: 'run-scope',
  sql: `ALTER TABLE suggest_runs ADD COLUMN scope TEXT NOT NULL DEFAULT '';`,
};
