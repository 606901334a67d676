import type { Migration } from '../migrator.js';
import { migration0001 } from './0001-initial.js';
import { migration0002 } from './0002-inventory.js';

/** Every schema change, in order. Append; never edit a migration that has shipped. */
export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002];
