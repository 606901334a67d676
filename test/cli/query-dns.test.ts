import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/dns/dnsmasq-extra.log', import.meta.url));

describe('query dns', () => {
  it('finds the names an address was an answer for, by suffix and by CIDR', () => {
    const dir = tempDir();
    const log = join(dir, 'dnsmasq.log');
    copyFileSync(FIXTURE, log);
    const db = join(dir, 'x.db');
    const c = cli(['collect', 'dns', '--format', 'dnsmasq', '--year', '2026', '-q', '--db', db, log]);
    expect(c.code).toBe(0);
    const q = (...a: string[]) =>
      JSON.parse(cli(['query', 'dns', '--db', db, ...a, '-o', 'json']).stdout) as Record<string, unknown>[];
    const byName = q('--name', '*.internal.test');
    expect(byName.length).toBeGreaterThan(0);
    expect(byName.every((r) => String(r.name).endsWith('.internal.test'))).toBe(true);
    const byAnswer = q('--answer', '192.0.2.0/28');
    expect(byAnswer.map((r) => r.name)).toContain('example.test');
    expect(byAnswer.every((r) => String(r.answer).startsWith('192.0.2.'))).toBe(true);
  });
});
