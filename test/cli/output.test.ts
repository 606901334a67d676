import { describe, expect, it } from 'vitest';
import { stringify as yamlStringify } from 'yaml';
import { render, writeRows, type OutputRow } from '../../src/cli/output.js';

const COLS = ['name', 'n', 'tags', 'note'];
const rows: OutputRow[] = [
  { name: 'a', n: 1, tags: ['x', 'y'], note: null },
  { name: 'b,"c"', n: 22, tags: [], note: 'line\nbreak' },
  { name: 'd', n: null, tags: ['z'], note: 'ok', extra: 'dropped' },
];
const picked = rows.map((r) => Object.fromEntries(COLS.map((c) => [c, r[c] ?? null])));

describe('render', () => {
  it('writes JSON byte for byte as JSON.stringify(rows, null, 2)', () => {
    expect(render(rows, COLS, 'json')).toBe(`${JSON.stringify(picked, null, 2)}\n`);
    expect(render([], COLS, 'json')).toBe('[]\n');
    expect(render(rows.slice(0, 1), COLS, 'json')).toBe(`${JSON.stringify(picked.slice(0, 1), null, 2)}\n`);
  });

  it('writes YAML and CSV as before', () => {
    expect(render(rows, COLS, 'yaml')).toBe(yamlStringify(picked));
    expect(render([], COLS, 'yaml')).toBe('[]\n');
    expect(render(rows, COLS, 'csv')).toBe(
      'name,n,tags,note\na,1,x;y,\n"b,""c""",22,,"line\nbreak"\nd,,z,ok\n',
    );
  });

  it('aligns the table, numbers to the right', () => {
    expect(render(rows.slice(0, 1), ['name', 'n'], 'table')).toBe('NAME  N\na     1\n');
    expect(
      render(
        [
          { name: 'abc', n: 100 },
          { name: 'b', n: 2 },
        ],
        ['name', 'n'],
        'table',
      ),
    ).toBe('NAME    N\nabc   100\nb       2\n');
    expect(render([], ['name', 'n'], 'table')).toBe('NAME  N\n');
  });

  it('shows control characters of a table cell escaped (a logged escape sequence must not reach the terminal)', () => {
    const raw = 'evil \u001b]0;pwned\u0007\u001b[2J\tend\u009b';
    expect(render([{ raw, n: 1 }], ['raw', 'n'], 'table')).toBe(
      'RAW                                      N\nevil \\x1b]0;pwned\\x07\\x1b[2J\\x09end\\x9b  1\n',
    );
    expect(render([{ tags: ['a', 'b\u001b[2J'] }], ['tags'], 'table')).toBe('TAGS\na,b\\x1b[2J\n');
    // Data formats keep the text as it was: JSON escapes it its own way, CSV is for programs.
    expect(JSON.parse(render([{ raw }], ['raw'], 'json'))).toEqual([{ raw }]);
    expect(render([{ raw }], ['raw'], 'csv')).toBe(`raw\n${raw}\n`);
  });

  it('prints a table of 200k rows (no spread into Math.max)', () => {
    const many = Array.from({ length: 200_000 }, (_v, i) => ({ source: 'f.log', line: i + 1 }));
    const out = render(many, ['source', 'line'], 'table');
    expect(out.split('\n')).toHaveLength(200_002);
    expect(out.endsWith('f.log   200000\n')).toBe(true);
  });
});

describe('writeRows', () => {
  it('streams: writes before the last row is produced, and the same bytes as render', () => {
    const chunks: string[] = [];
    let produced = 0;
    let writtenBeforeEnd = false;
    function* gen(): Generator<OutputRow> {
      for (let i = 0; i < 5000; i++) {
        produced++;
        if (chunks.length > 0 && produced < 5000) writtenBeforeEnd = true;
        yield { name: `row-${i}`, n: i, tags: ['a'], note: 'x'.repeat(50) };
      }
    }
    writeRows({ write: (c: string) => chunks.push(c) }, gen(), COLS, 'json');
    expect(writtenBeforeEnd).toBe(true);
    const all = Array.from({ length: 5000 }, (_v, i) => ({
      name: `row-${i}`,
      n: i,
      tags: ['a'],
      note: 'x'.repeat(50),
    }));
    expect(chunks.join('')).toBe(render(all, COLS, 'json'));
  });

  it('stops producing once the sink has failed (a closed pipe)', () => {
    let produced = 0;
    const sink = { destroyed: false, write: () => (sink.destroyed = true) };
    function* gen(): Generator<OutputRow> {
      for (let i = 0; i < 100_000; i++) {
        produced++;
        yield { name: `row-${i}`, n: i, tags: [], note: null };
      }
    }
    writeRows(sink, gen(), COLS, 'csv');
    expect(produced).toBeLessThan(100_000);
  });
});
