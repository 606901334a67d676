import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandPaths } from '../../collectors/sources/open.js';
import { hasLargeInput } from '../../src/ingest/parallel.js';
import { tempDir } from '../helpers/tmp.js';

describe('the default thread count', () => {
  it('takes a worker thread for an input of 64 MB of text, counting a gzip file inflated', async () => {
    const dir = tempDir();
    const sized = (name: string, bytes: number): string => {
      const path = join(dir, name);
      writeFileSync(path, '');
      truncateSync(path, bytes); // sparse: only the size matters here
      return path;
    };
    const small = [sized('a.log', 11 * 1024 * 1024), sized('b.log.gz', 2 * 1024 * 1024)];
    expect(hasLargeInput(await expandPaths(small))).toBe(false);
    // Thousands of small files are still small inputs: one thread reads them faster.
    expect(hasLargeInput(await expandPaths([dir]))).toBe(false);
    expect(hasLargeInput(await expandPaths([...small, sized('big.log', 64 * 1024 * 1024)]))).toBe(true);
    expect(hasLargeInput(await expandPaths([sized('big.log.gz', 8 * 1024 * 1024)]))).toBe(true);
    expect(hasLargeInput(await expandPaths(['-', join(dir, 'missing.log')]))).toBe(false);
  });
});
