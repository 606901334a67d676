/**
 * A run of complete lines from one source, in order. Sources hand out chunks rather than one object per line
 * because per-line objects dominate the cost at a million lines a second; a chunk still carries what a
 * checkpoint needs: where its last line ends.
 */
export interface LineChunk {
  /** Content fingerprint of the source (or `topic/partition` for Kafka), so a renamed copy counts once. */
  readonly sourceId: string;
  /** 1-based number of `lines[0]`. */
  readonly firstLineNo: number;
  /** Line texts without their terminator (`\n` or `\r\n`). */
  readonly lines: readonly string[];
  /**
   * Indices into `lines` of lines longer than the source's limit: their text is cut to the limit and they
   * must be quarantined, not parsed.
   */
  readonly tooLong: readonly number[];
  /** Byte offset (in the decompressed stream) just past the last line of this chunk. */
  readonly endOffset: number;
}

/**
 * A run of complete lines left as the bytes they were read as, for a parser that reads bytes (`parseBytes`):
 * decoding tens of GB of ASCII records into strings only to scan them again costs more than the parse itself.
 * Lines are separated by `\n`; the last ends at `bytes.length`. A line may end in `\r` or be longer than the
 * source's limit: the consumer handles both as `lineText` does.
 */
export interface ByteChunk {
  readonly sourceId: string;
  /** 1-based number of the first line. */
  readonly firstLineNo: number;
  /** Where each line ends in `bytes` (its newline, or `bytes.length` for the last): found once, read by the consumer. */
  readonly ends: readonly number[];
  readonly bytes: Buffer;
  readonly endOffset: number;
}

/** The line a chunk ends on, i.e. the checkpoint a consumer may record once the chunk is stored. */
export function lastLineNo(chunk: LineChunk | ByteChunk): number {
  return chunk.firstLineNo + ('lines' in chunk ? chunk.lines.length : chunk.ends.length) - 1;
}

/**
 * The text of the line `bytes[from, to)` as a line chunk carries it: a trailing `\r` dropped, and a line over
 * `maxLineBytes` cut to that many bytes and marked long (counted with its `\r`).
 */
export function lineText(
  bytes: Buffer,
  from: number,
  to: number,
  maxLineBytes: number,
): { readonly text: string; readonly long: boolean } {
  if (to - from > maxLineBytes)
    return { text: cutText(bytes.toString('utf8', from, to), maxLineBytes), long: true };
  return {
    text: bytes.toString('utf8', from, to > from && bytes[to - 1] === 0x0d ? to - 1 : to),
    long: false,
  };
}

/** `text` cut to its first `maxBytes` UTF-8 bytes (a character split by the cut decodes as U+FFFD). */
export function cutText(text: string, maxBytes: number): string {
  return Buffer.from(text, 'utf8').toString('utf8', 0, maxBytes);
}
