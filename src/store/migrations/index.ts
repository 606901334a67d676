import type { Migration } from '../migrator.js';
import { migration0001 } from './0001-initial.js';
import { migration0002 } from './0002-inventory.js';
import { migration0003 } from './0003-attribution.js';
import { migration0004 } from './0004-dns.js';
import { migration0005 } from './0005-review.js';
import { migration0006 } from './0006-kafka-offsets.js';
import { migration0007 } from './0007-attribution-candidates.js';
import { migration0008 } from './0008-candidate-first-seen.js';
import { migration0009 } from './0009-edge-rows.js';
import { migration0010 } from './0010-edge-key.js';
import { migration0011 } from './0011-source-shape.js';
import { migration0012 } from './0012-inventory-ports.js';
import { migration0013 } from './0013-run-scope.js';
import { migration0014 } from './0014-lease-deletion.js';
import { migration0015 } from './0015-address-holders.js';

/** Every schema change, in order. Append; never edit a migration that has shipped. */
export const MIGRATIONS: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
  migration0015,
];
