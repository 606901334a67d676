import type { Migration } from '../migrator.js';

/**
 * When a candidate was first seen, over every `suggest` run, not only the latest run's window. Each run sees its
 * own window (`--since 14d`), so an endpoint used for months shows up in it as first seen at the window's start;
 * the report's "new endpoints" must not take it for new. Existing rows start from what their stored evidence
 * says.
 */
export const migration0008: Migration = {
  version: 8,
  name: 'candidate-first-seen',
  sql: `
ALTER TABLE candidates ADD COLUMN first_seen REAL;
UPDATE candidates SET first_seen = json_extract(endpoint, '$.evidence.firstSeen');
`,
};
