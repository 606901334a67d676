import type { Migration } from '../migrator.js';

/**
 * What tells an input that grew from one that merely begins like it, and a gzip file appended to from one unchanged:
 *
 * - `ends_line`: for a source first seen small, whether its whole text then ended with a newline. A later input is
 *   looked up by its prefixes of the lengths small sources had; a text that ended a line can only be the prefix that
 *   ends one, so an input is checked at its own line ends for those (a tree of thousands of small files hashed
 *   thousands of prefixes per file). NULL before this migration: checked at every length, as before.
 * - `raw_size`: the input's size on disk when last read (compressed, for gzip). A gzip trailer gives only its last
 *   member's size: a member appended with the same size looked unchanged. NULL for stdin and before this migration.
 */
export const migration0011: Migration = {
  version: 11,
  name: 'source-shape',
  sql: `
ALTER TABLE sources ADD COLUMN ends_line INTEGER;
ALTER TABLE sources ADD COLUMN raw_size INTEGER;
`,
};
