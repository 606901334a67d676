import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { InputError } from '../../src/model/errors.js';

/** A named input before it is opened: a file path or `-` for standard input. */
export interface SourceRef {
  /** What the user should see in messages: the path, or `-`. */
  readonly name: string;
  readonly path: string | null;
}

/** An opened input: its identity and its decompressed bytes. */
export interface OpenedSource {
  readonly ref: SourceRef;
  readonly sourceId: string;
  readonly gzip: boolean;
  /** Decompressed bytes from `startOffset` on. */
  readonly bytes: AsyncIterable<Buffer>;
  /** Offset of the first byte of `bytes`: non-zero only when a plain file is resumed by seeking. */
  readonly startOffset: number;
}

/** Bytes hashed for a source's identity: enough to tell two log files apart, little enough to survive appends. */
export const FINGERPRINT_BYTES = 4096;
const READ_CHUNK = 1 << 20;

/**
 * Expands paths into the files to read, in a stable order: a directory is walked recursively (the S3 export
 * layout `AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/…log.gz` is just a deep tree), hidden entries
 * are left out, `-` is standard input. A path that does not exist is an `InputError`.
 */
export async function expandPaths(paths: readonly string[]): Promise<SourceRef[]> {
  const out: SourceRef[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ name: '-', path: null });
      continue;
    }
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      throw new InputError(p, describeFsError(err), 'unreadable');
    }
    if (st.isDirectory()) await walk(p, out);
    else out.push({ name: p, path: p });
  }
  return out;
}

async function walk(dir: string, out: SourceRef[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new InputError(dir, describeFsError(err), 'unreadable');
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile() || e.isSymbolicLink()) out.push({ name: full, path: full });
  }
}

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}

export interface OpenOptions {
  /**
   * Asked once the source's identity is known: the byte offset an earlier read of it got to. A plain file
   * resumes by seeking there (this also picks up lines appended since); other streams start at 0.
   */
  readonly resumeOffsetFor?: (sourceId: string) => number;
  /** Namespaces the fingerprint so one file read as two formats is two sources. */
  readonly kind: string;
}

/**
 * Opens a source: reads its head to fingerprint it and to sniff gzip by magic bytes (names lie: S3 exports are
 * `.log.gz`, a rotated file may be gzip without the suffix), refuses binary data, and returns the decompressed
 * byte stream. Plain files resume by seeking; gzip streams cannot seek, so the caller skips lines instead.
 */
export async function openSource(ref: SourceRef, opts: OpenOptions): Promise<OpenedSource> {
  const raw: AsyncIterator<Buffer> = (
    ref.path === null ? process.stdin : createReadStream(ref.path, { highWaterMark: READ_CHUNK })
  )[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  try {
    while (headLen < FINGERPRINT_BYTES) {
      const r = await raw.next();
      if (r.done) {
        ended = true;
        break;
      }
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      head.push(b);
      headLen += b.length;
    }
  } catch (err) {
    throw new InputError(ref.name, describeFsError(err), 'unreadable');
  }
  const headBuf = Buffer.concat(head);
  const fingerprintSpan = headBuf.subarray(0, FINGERPRINT_BYTES);
  const sourceId = createHash('sha256')
    .update(opts.kind)
    .update('\0')
    .update(fingerprintSpan)
    .digest('hex')
    .slice(0, 32);
  const gzip = headBuf.length >= 2 && headBuf[0] === 0x1f && headBuf[1] === 0x8b;
  if (!gzip && looksBinary(fingerprintSpan)) {
    await raw.return?.();
    throw new InputError(ref.name, 'binary data, not a text log (and not gzip)', 'binary');
  }

  const name = ref.name;
  async function* rawBytes(): AsyncGenerator<Buffer> {
    if (headBuf.length > 0) yield headBuf;
    if (ended) return;
    try {
      for (;;) {
        const r = await raw.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } catch (err) {
      throw new InputError(name, describeFsError(err), 'unreadable');
    } finally {
      await raw.return?.();
    }
  }

  const resume = opts.resumeOffsetFor?.(sourceId) ?? 0;
  if (gzip) {
    return { ref, sourceId, gzip, bytes: gunzip(name, rawBytes()), startOffset: 0 };
  }
  if (resume > 0 && ref.path !== null) {
    await raw.return?.();
    return { ref, sourceId, gzip, bytes: seekRead(ref.path, resume), startOffset: resume };
  }
  return { ref, sourceId, gzip, bytes: rawBytes(), startOffset: 0 };
}

async function* seekRead(path: string, start: number): AsyncGenerator<Buffer> {
  try {
    for await (const b of createReadStream(path, { start, highWaterMark: READ_CHUNK })) yield b as Buffer;
  } catch (err) {
    throw new InputError(path, describeFsError(err), 'unreadable');
  }
}

async function* gunzip(name: string, input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // zlib inflates on the libuv thread pool, so decompression overlaps with parsing on the main thread.
  const z = createGunzip({ chunkSize: 256 * 1024 });
  const src = Readable.from(input, { objectMode: false });
  // Errors surface through the iteration below; this only keeps the pipeline's own promise from going unhandled.
  pipeline(src, z).catch(() => undefined);
  try {
    for await (const b of z) yield b as Buffer;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const what =
      code === 'Z_BUF_ERROR'
        ? 'truncated gzip stream (unexpected end of file)'
        : `corrupt gzip stream (${code ?? 'error'})`;
    throw new InputError(name, what, 'gzip');
  } finally {
    // A consumer that stops early (interrupt) must not leave the file open.
    z.destroy();
    src.destroy();
  }
}

/** NUL bytes or mostly control characters in the head: a log file is text. */
function looksBinary(head: Buffer): boolean {
  if (head.length === 0) return false;
  let control = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    if (c === 0) return true;
    if (c < 9 || (c > 13 && c < 32)) control++;
  }
  return control > head.length / 10;
}
