import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../model/errors.js';

/**
 * Where `--out` writes. A path that cannot be written (a file where a directory should be, no permission, a
 * read-only or full disk) is the user's to fix: one line and exit 1, never a stack trace.
 */
export function makeOutDir(dir: string): void {
  try {
    mkdirp(dir);
  } catch (err) {
    throw cannotWrite(dir, err);
  }
}

export function writeOutFile(path: string, content: string): void {
  try {
    mkdirp(dirname(path));
    writeFileSync(path, content);
  } catch (err) {
    throw cannotWrite(path, err);
  }
}

/**
 * `mkdir -p`. Not `mkdirSync(…, { recursive: true })`: Node 20's loops forever where mkdir fails with ENOENT
 * under a parent that exists (/proc).
 */
function mkdirp(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (statSync(dir).isDirectory()) return;
      throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    mkdirp(parent);
    mkdirSync(dir);
  }
}

function cannotWrite(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why: Record<string, string> = {
    ENOTDIR: 'a file is in the way of a directory',
    EEXIST: 'a file is in the way of a directory',
    EISDIR: 'is a directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'read-only file system',
    ENOSPC: 'the disk is full',
    EDQUOT: 'disk quota exceeded',
    ENOENT: 'cannot create a directory there',
    ENAMETOOLONG: 'name too long',
  };
  const reason = code === undefined ? undefined : why[code];
  return reason === undefined ? err : new UsageError(`cannot write ${path}: ${reason}`, 'out_unwritable');
}
