import type { Migration } from '../migrator.js';

/**
 * Review state that must survive re-generation: every candidate `suggest` ever produced (keyed by its stable
 * fingerprint, with the latest evidence as JSON), each `suggest` run, and the decisions people took. Decisions
 * are append-only (`review_decisions`); the one in force is the latest per candidate, so history is never lost.
 */
export const migration0005: Migration = {
  version: 5,
  name: 'review',
  sql: `
CREATE TABLE suggest_runs (
  run        INTEGER PRIMARY KEY,
  at         REAL    NOT NULL,  -- when the run happened (epoch seconds)
  since      REAL    NOT NULL,  -- the observation window it learned from
  until      REAL    NOT NULL,
  candidates INTEGER NOT NULL
) STRICT;

CREATE TABLE candidates (
  id          TEXT    PRIMARY KEY,  -- Endpoint.id: sha256 of sender, destination, port, protocol, path
  sender      TEXT    NOT NULL,
  target      TEXT    NOT NULL,     -- destinationLabel: ns/Kind/name, host or CIDRs
  port        INTEGER NOT NULL,
  protocol    TEXT    NOT NULL,
  via         TEXT    NOT NULL,
  endpoint    TEXT    NOT NULL,     -- JSON Endpoint as last suggested
  first_run   INTEGER NOT NULL,     -- suggest_runs.run that first produced it
  last_run    INTEGER NOT NULL      -- the latest run that produced it
) STRICT;
CREATE INDEX candidates_sender ON candidates (sender);

-- Which candidates each run produced, and a hash of the rule they stand for (destination, CIDRs, flags), so a
-- report can tell added, removed and changed rules between two runs.
CREATE TABLE candidate_runs (
  run       INTEGER NOT NULL,
  id        TEXT    NOT NULL,
  rule_hash TEXT    NOT NULL,
  PRIMARY KEY (run, id)
) STRICT, WITHOUT ROWID;

-- Reports written, so the next one covers what happened since.
CREATE TABLE reports (
  seq   INTEGER PRIMARY KEY,
  at    REAL    NOT NULL,
  since REAL    NOT NULL,
  until REAL    NOT NULL,
  run   INTEGER            -- the suggest run it compared against the one before; NULL without any
) STRICT;

CREATE TABLE review_decisions (
  seq        INTEGER PRIMARY KEY,
  id         TEXT    NOT NULL,      -- candidates.id (a decision may name a candidate not suggested again yet)
  decision   TEXT    NOT NULL CHECK (decision IN ('accept', 'reject', 'snooze')),
  by         TEXT    NOT NULL,
  at         REAL    NOT NULL,
  reason     TEXT    NOT NULL,
  until      REAL                   -- snooze only: when the candidate comes back to review
) STRICT;
CREATE INDEX review_decisions_id ON review_decisions (id, seq);
`,
};
