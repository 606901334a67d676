import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineText, type ByteChunk, type LineChunk } from '../../collectors/sources/line-chunk.js';
import { splitLines, type SplitOptions } from '../../collectors/sources/split-lines.js';

const opts = (o: Partial<SplitOptions> = {}): SplitOptions => ({
  sourceId: 's',
  firstLineNo: 1,
  startOffset: 0,
  skipThroughLine: 0,
  maxLineBytes: 1024,
  ...o,
});

async function* buffers(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

type Chunk = LineChunk | ByteChunk;

async function collect(it: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** Every line of the chunks with its number; byte chunks are read as the ingest loop reads them. */
function flat(chunks: Chunk[], maxLineBytes = 1024): { lineNo: number; text: string; long: boolean }[] {
  return chunks.flatMap((c) => {
    if ('lines' in c)
      return c.lines.map((text, i) => ({ lineNo: c.firstLineNo + i, text, long: c.tooLong.includes(i) }));
    const out: { lineNo: number; text: string; long: boolean }[] = [];
    let pos = 0;
    for (let i = 0; i < c.ends.length; i++) {
      const nl = c.ends[i]!;
      out.push({ lineNo: c.firstLineNo + i, ...lineText(c.bytes, pos, nl, maxLineBytes) });
      pos = nl + 1;
    }
    return out;
  });
}

describe('splitLines', () => {
  it('joins lines split across buffers and keeps exact byte offsets', async () => {
    const chunks = await collect(splitLines(buffers('ab', 'c\nde', 'f\r\n', 'g'), opts()));
    expect(flat(chunks)).toEqual([
      { lineNo: 1, text: 'abc', long: false },
      { lineNo: 2, text: 'def', long: false },
      { lineNo: 3, text: 'g', long: false },
    ]);
    expect(chunks.at(-1)!.endOffset).toBe(Buffer.byteLength('abc\ndef\r\ng'));
  });

  it('counts multi-byte characters in bytes for offsets', async () => {
    const chunks = await collect(splitLines(buffers('é\nü\n'), opts()));
    expect(flat(chunks).map((l) => l.text)).toEqual(['é', 'ü']);
    expect(chunks.at(-1)!.endOffset).toBe(6);
  });

  it('skips lines already checkpointed and keeps numbering', async () => {
    const chunks = await collect(splitLines(buffers('a\nb\nc\nd\n'), opts({ skipThroughLine: 2 })));
    expect(flat(chunks)).toEqual([
      { lineNo: 3, text: 'c', long: false },
      { lineNo: 4, text: 'd', long: false },
    ]);
    expect(chunks.at(-1)!.endOffset).toBe(8);
  });

  it('numbers lines from a seek position', async () => {
    const chunks = await collect(splitLines(buffers('x\ny\n'), opts({ firstLineNo: 10, startOffset: 100 })));
    expect(flat(chunks).map((l) => l.lineNo)).toEqual([10, 11]);
    expect(chunks.at(-1)!.endOffset).toBe(104);
  });

  it('cuts an over-long line spread over many buffers and flags it', async () => {
    const big = Array.from({ length: 40 }, () => 'z'.repeat(1000));
    const chunks = await collect(
      splitLines(buffers('ok\n', ...big, '\nnext\n'), opts({ maxLineBytes: 100 })),
    );
    const lines = flat(chunks);
    expect(lines.map((l) => [l.lineNo, l.text.length, l.long])).toEqual([
      [1, 2, false],
      [2, 100, true],
      [3, 4, false],
    ]);
    expect(chunks.at(-1)!.endOffset).toBe(3 + 40_000 + 1 + 5);
  });

  it('flags an over-long line inside one buffer', async () => {
    const lines = flat(
      await collect(splitLines(buffers(`${'q'.repeat(500)}\nshort\n`), opts({ maxLineBytes: 100 }))),
    );
    expect(lines.map((l) => [l.text.length, l.long])).toEqual([
      [100, true],
      [5, false],
    ]);
  });

  it('measures the limit in bytes whether a multi-byte line sits in one buffer or spans several', async () => {
    // 60 three-byte characters: 60 UTF-16 units, 180 bytes: over a 100-byte limit either way.
    const line = '€'.repeat(60);
    const whole = flat(await collect(splitLines(buffers(`${line}\nok\n`), opts({ maxLineBytes: 100 }))));
    const bytes = Buffer.from(`${line}\nok\n`);
    const split = flat(
      await collect(
        splitLines(buffers(bytes.subarray(0, 7), bytes.subarray(7)), opts({ maxLineBytes: 100 })),
      ),
    );
    expect(whole).toEqual(split);
    expect(whole.map((l) => [l.long, l.text.startsWith('€'.repeat(33))])).toEqual([
      [true, true],
      [false, false],
    ]);
  });

  it('hands out the same lines, numbers and offsets as bytes as it does as text', async () => {
    const piece = fc.constantFrom('a', 'bc ', '\n', '\r\n', '\r', '€', '\xff', 'x'.repeat(40), '\n\n');
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.nat({ max: 4 }),
        fc.boolean(),
        async (pieces, cuts, skip, hold) => {
          const input = Buffer.concat(
            pieces.map((p) => (p === '\xff' ? Buffer.from([0xff]) : Buffer.from(p))),
          );
          const at = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
          const parts = [0, ...at, input.length]
            .slice(1)
            .map((end, i, ends) => input.subarray(i === 0 ? 0 : ends[i - 1], end));
          const o = { maxLineBytes: 30, skipThroughLine: skip, holdUnterminatedTail: hold };
          const text = await collect(splitLines(buffers(...parts), opts(o)));
          const bytes = await collect(splitLines(buffers(...parts), opts({ ...o, bytes: true })));
          expect(flat(bytes, 30)).toEqual(flat(text, 30));
          expect(bytes.at(-1)?.endOffset).toBe(text.at(-1)?.endOffset);
          // Every chunk's offset is just past its last line: as many newlines before it as lines, or the end.
          for (const c of bytes) {
            if ('ends' in c) {
              const newlines = [...c.bytes.keys()].filter((k) => c.bytes[k] === 0x0a);
              expect(c.ends).toEqual([...newlines, c.bytes.length]);
            }
            const last = c.firstLineNo + ('lines' in c ? c.lines.length : c.ends.length) - 1;
            const newlines = input.subarray(0, c.endOffset).filter((b) => b === 0x0a).length;
            expect(newlines === last || (newlines === last - 1 && c.endOffset === input.length)).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('drops a byte order mark before the first line, in text and byte mode, and keeps exact offsets', async () => {
    const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('head\nrow\n')]);
    for (const bytes of [false, true]) {
      const chunks = await collect(splitLines(buffers(input), opts({ bytes })));
      expect(flat(chunks).map((l) => l.text)).toEqual(['head', 'row']);
      expect(chunks.at(-1)!.endOffset).toBe(input.length);
    }
    // Resuming past the start: the bytes there are whatever the line holds.
    const resumed = await collect(splitLines(buffers(input), opts({ startOffset: 100, firstLineNo: 7 })));
    expect(flat(resumed)[0]!.text).toBe('\ufeffhead');
  });

  it('yields nothing for an empty stream', async () => {
    expect(await collect(splitLines(buffers(), opts()))).toEqual([]);
  });
});
