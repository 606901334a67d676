import type { Migration } from '../migrator.js';
import { migration0001 } from './0001-initial.js';

/** Every schema change, in order. Append; never edit a migration that has shipped. */
export const MIGRATIONS: readonly Migration[] = [migration0001];
