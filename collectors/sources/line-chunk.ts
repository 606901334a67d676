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

/** The line a chunk ends on, i.e. the checkpoint a consumer may record once the chunk is stored. */
export function lastLineNo(chunk: LineChunk): number {
  return chunk.firstLineNo + chunk.lines.length - 1;
}
