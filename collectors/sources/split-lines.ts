import { cutText, type ByteChunk, type LineChunk } from './line-chunk.js';

export interface SplitOptions {
  readonly sourceId: string;
  /** Number of the first line the stream yields (1 unless resuming from a byte offset). */
  readonly firstLineNo: number;
  /** Byte offset of the stream's first byte in the whole source. */
  readonly startOffset: number;
  /** Lines numbered up to and including this one are dropped (resume of a stream that cannot seek). */
  readonly skipThroughLine: number;
  /**
   * Leave a last line without a terminator out (and out of the offsets): a file still being written may end
   * mid-record, and the next read, which resumes at the last newline, will see it whole.
   */
  readonly holdUnterminatedTail?: boolean;
  /** Longest line kept whole; longer lines are cut and flagged (a 10 MB "line" is binary junk, not a record). */
  readonly maxLineBytes: number;
  /**
   * Hand the lines that lie whole in one input buffer over as bytes (`ByteChunk`), for a parser that reads
   * bytes; a line that spans buffers still comes as text.
   */
  readonly bytes?: boolean;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Turns a byte stream into chunks of complete lines. Splits on bytes (not decoded text) so offsets stay
 * exact for checkpoints, and decodes each chunk's span once. A last line without a terminator is a line.
 */
export async function* splitLines(
  bytes: AsyncIterable<Buffer>,
  opts: SplitOptions,
): AsyncGenerator<LineChunk | ByteChunk> {
  const max = opts.maxLineBytes;
  let lineNo = opts.firstLineNo;
  let offset = opts.startOffset;
  // Bytes of a line not yet terminated, across input buffers.
  let carry: Buffer[] = [];
  let carryLen = 0;
  // Set while discarding the rest of an over-long line: its cut text, emitted when the line ends.
  let overlong: string | null = null;

  let lines: string[] = [];
  let tooLong: number[] = [];

  const emitLine = (text: string, long: boolean): void => {
    if (lineNo > opts.skipThroughLine) {
      if (long) tooLong.push(lines.length);
      lines.push(text);
    }
    lineNo++;
  };
  const emitCarry = (): void => {
    const whole = Buffer.concat(carry);
    carry = [];
    carryLen = 0;
    if (whole.length > max) emitLine(whole.toString('utf8', 0, max), true);
    else
      emitLine(
        whole.toString('utf8', 0, whole[whole.length - 1] === CR ? whole.length - 1 : whole.length),
        false,
      );
  };
  const takeChunk = (): LineChunk | null => {
    if (lines.length === 0) return null;
    const chunk: LineChunk = {
      sourceId: opts.sourceId,
      firstLineNo: lineNo - lines.length,
      lines,
      tooLong,
      endOffset: offset,
    };
    lines = [];
    tooLong = [];
    return chunk;
  };

  let first = true;
  for await (const buf of bytes) {
    let pos = 0;
    // A UTF-8 byte order mark (Windows tools write one) is not part of the first line: a header line behind it
    // must still read as a header. It counts in the offsets, which are the file's bytes.
    if (
      first &&
      opts.startOffset === 0 &&
      buf.length >= 3 &&
      buf[0] === 0xef &&
      buf[1] === 0xbb &&
      buf[2] === 0xbf
    ) {
      pos = 3;
      offset += 3;
    }
    first = false;
    while (pos < buf.length) {
      const nl = buf.indexOf(NEWLINE, pos);
      if (nl === -1) {
        carryLen += buf.length - pos;
        if (overlong === null) {
          carry.push(buf.subarray(pos));
          if (carryLen > max) {
            overlong = Buffer.concat(carry).toString('utf8', 0, max);
            carry = [];
          }
        }
        break;
      }
      if (overlong !== null) {
        offset += carryLen + (nl - pos) + 1;
        emitLine(overlong, true);
        overlong = null;
        carryLen = 0;
        pos = nl + 1;
        continue;
      }
      if (carryLen > 0) {
        carry.push(buf.subarray(pos, nl));
        offset += carryLen + (nl - pos) + 1;
        emitCarry();
        pos = nl + 1;
        continue;
      }
      const lastNl = buf.lastIndexOf(NEWLINE);
      if (opts.bytes === true && lineNo > opts.skipThroughLine) {
        // The text chunk of a line carried in from the last buffer goes first, so chunks stay in line order.
        const before = takeChunk();
        if (before !== null) yield before;
        const ends: number[] = [];
        for (let i = pos; i <= lastNl;) {
          const nl = buf.indexOf(NEWLINE, i);
          ends.push(nl - pos);
          i = nl + 1;
        }
        offset += lastNl + 1 - pos;
        lineNo += ends.length;
        yield {
          sourceId: opts.sourceId,
          firstLineNo: lineNo - ends.length,
          ends,
          bytes: buf.subarray(pos, lastNl),
          endOffset: offset,
        };
        pos = lastNl + 1;
        continue;
      }
      // Decode every complete line left in this buffer at once.
      const parts = buf.toString('utf8', pos, lastNl).split('\n');
      for (let i = 0; i < parts.length; i++) {
        const text = parts[i]!;
        // The limit is in bytes, as for lines that span buffers. A UTF-16 unit is 1 to 3 UTF-8 bytes, so only a
        // line longer than max/3 units needs counting, and only one longer than max units is sure to be over.
        if (text.length > max || (text.length * 3 > max && Buffer.byteLength(text, 'utf8') > max))
          emitLine(cutText(text, max), true);
        else if (text.length > 0 && text.charCodeAt(text.length - 1) === CR)
          emitLine(text.slice(0, -1), false);
        else emitLine(text, false);
      }
      offset += lastNl + 1 - pos;
      pos = lastNl + 1;
    }
    const chunk = takeChunk();
    if (chunk !== null) yield chunk;
  }
  if (opts.holdUnterminatedTail === true) {
    // Nothing: the tail is neither counted nor passed by the offset.
  } else if (overlong !== null) {
    offset += carryLen;
    emitLine(overlong, true);
  } else if (carryLen > 0) {
    offset += carryLen;
    emitCarry();
  }
  const chunk = takeChunk();
  if (chunk !== null) yield chunk;
}
