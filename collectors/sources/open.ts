import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { ShortHead } from '../../src/model/edge.js';
import { InputError } from '../../src/model/errors.js';

/** A named input before it is opened: a file path or `-` for standard input. */
export interface SourceRef {
  /** What the user should see in messages: the path, or `-`. */
  readonly name: string;
  readonly path: string | null;
  /** Set when the path could not be looked at: the source fails alone, the others are still read. */
  readonly error?: InputError;
}

/** An opened input: its identity and its decompressed bytes. */
export interface OpenedSource {
  readonly ref: SourceRef;
  readonly sourceId: string;
  /** How many leading bytes `sourceId` hashes (less than FINGERPRINT_BYTES for a file that was small). */
  readonly fingerprintLength: number;
  readonly gzip: boolean;
  /** Modification time of a file (null for stdin). */
  readonly mtimeMs: number | null;
  /** Size of a file on disk, compressed for gzip (null for stdin). */
  readonly rawSize: number | null;
  /** A new source first seen small (its whole text shorter than FINGERPRINT_BYTES): that length, and how it ended. */
  readonly shortHead: ShortHead | null;
  /**
   * For a gzip file, the uncompressed size its trailer records (ISIZE, modulo 2^32, of the last member): equal
   * to the bytes an earlier read got through means the file has not changed since, without decompressing it.
   */
  readonly gzipSize: number | null;
  /** Releases the file when the caller stops before the end. */
  close(): Promise<void>;
  /** Decompressed bytes from `startOffset` on. */
  readonly bytes: AsyncIterable<Buffer>;
  /** Offset of the first byte of `bytes`: non-zero only when a plain file is resumed by seeking. */
  readonly startOffset: number;
}

/** Bytes hashed for a source's identity: enough to tell two log files apart, little enough to survive appends. */
export const FINGERPRINT_BYTES = 4096;

/**
 * The lengths of sources first seen small, each hashed over its whole text then. Any later input that begins with
 * one of those texts may be that source grown (appended to, or rotated into gzip with more lines), so its prefix of
 * that length is looked up too. A text that ended with a newline can only be a prefix that ends with one: an input
 * is checked only at its own line ends for those, which keeps a tree of thousands of small files from hashing
 * thousands of prefixes each.
 */
export class ShortLengths {
  readonly #lineEnded = new Set<number>();
  readonly #others = new Set<number>();

  add(head: ShortHead): void {
    (head.endsLine ? this.#lineEnded : this.#others).add(head.length);
  }

  /** The known lengths that `head` could begin with a source of, longest first. */
  prefixesOf(head: Buffer): number[] {
    const out: number[] = [];
    for (const len of this.#others) if (len > 0 && len < head.length) out.push(len);
    if (this.#lineEnded.size > 0) {
      for (let nl = head.indexOf(0x0a); nl >= 0 && nl + 1 < head.length; nl = head.indexOf(0x0a, nl + 1)) {
        if (this.#lineEnded.has(nl + 1) && !this.#others.has(nl + 1)) out.push(nl + 1);
      }
    }
    return out.sort((x, y) => y - x);
  }
}
const READ_CHUNK = 1 << 20;
const MIN_READ_CHUNK = 64 * 1024;

/**
 * Expands paths into the files to read, in a stable order: a directory is walked recursively (the S3 export
 * layout `AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/…log.gz` is just a deep tree), hidden entries
 * are left out, `-` is standard input. A path that cannot be looked at becomes a ref carrying its `InputError`,
 * so that it fails alone.
 */
export async function expandPaths(
  paths: readonly string[],
  /** Told of each directory given that holds no file at all (a wrong path, more likely than an idle day). */
  onEmptyDirectory?: (dir: string) => void,
): Promise<SourceRef[]> {
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
      out.push({ name: p, path: p, error: new InputError(p, describeFsError(err), 'unreadable') });
      continue;
    }
    if (st.isDirectory()) {
      const before = out.length;
      await walk(p, out, new Set([dirKey(st)]));
      if (out.length === before) onEmptyDirectory?.(p);
    } else out.push({ name: p, path: p });
  }
  return out;
}

/** A directory's identity, whatever path reaches it: symbolic links can lead back into a tree being walked. */
function dirKey(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

/** `visited` holds the directories on the way down to `dir` (by dirKey), so a link to one of them is a loop. */
async function walk(dir: string, out: SourceRef[], visited: ReadonlySet<string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    out.push({ name: dir, path: dir, error: new InputError(dir, describeFsError(err), 'unreadable') });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    // A symbolic link is followed to what it names, unless that is a directory above it (a loop).
    const st = e.isDirectory() || e.isSymbolicLink() ? await stat(full).catch(() => null) : null;
    if (st?.isDirectory() === true) {
      const key = dirKey(st);
      if (!visited.has(key)) await walk(full, out, new Set(visited).add(key));
    } else if (e.isFile() || e.isSymbolicLink()) out.push({ name: full, path: full });
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

/** One way of naming a source: the hash of its first `length` bytes. */
export interface FingerprintCandidate {
  readonly sourceId: string;
  readonly length: number;
}

/** What the caller decides once it sees the candidates: which identity to use, and where a plain file resumes. */
export interface SourceIdentity {
  readonly sourceId: string;
  readonly fingerprintLength: number;
  readonly resumeOffset: number;
}

export interface OpenOptions {
  /** Namespaces the fingerprint so one file read as two formats is two sources. */
  readonly kind: string;
  /**
   * Fingerprint lengths shorter than FINGERPRINT_BYTES that sources were first seen with (files that were
   * small then). A file that has grown since still starts with those bytes, so it is recognised by them.
   */
  readonly shortLengths?: ShortLengths;
  /**
   * Picks the identity among the candidates (longest first) and the byte offset an earlier read of it got to.
   * Without it the full-length fingerprint is used and reading starts at 0.
   */
  readonly identify?: (candidates: readonly FingerprintCandidate[], head: Buffer) => SourceIdentity;
}

function fingerprint(kind: string, bytes: Buffer): string {
  return createHash('sha256').update(kind).update('\0').update(bytes).digest('hex').slice(0, 32);
}

/**
 * Opens a source: sniffs gzip by magic bytes (names lie: S3 exports are `.log.gz`, a rotated file may be gzip
 * without the suffix), fingerprints the first 4 KiB of the *decompressed* text (so `access.log`, its gzipped
 * rotation and the same bytes through stdin are one source), refuses binary data, and returns the decompressed
 * byte stream. Plain files resume by seeking; other streams cannot seek, so the caller skips lines instead.
 * The caller must `close()` a source it does not read to the end.
 */
export async function openSource(ref: SourceRef, opts: OpenOptions): Promise<OpenedSource> {
  return identifySource(await peekSource(ref), opts);
}

/**
 * A source's first decompressed bytes, read and checked but not yet identified: the part of opening that waits on
 * the disk, which a caller may start for the next source while it reads this one (an S3 export tree is thousands
 * of small files). `identifySource` finishes it; a peeked source that will not be read must be `close()`d.
 */
export interface PeekedSource {
  readonly ref: SourceRef;
  readonly gzip: boolean;
  readonly mtimeMs: number | null;
  readonly rawSize: number | null;
  readonly gzipSize: number | null;
  /** Up to the first 4 KiB and more of the decompressed text. */
  readonly head: Buffer;
  close(): Promise<void>;
  /** The decompressed bytes after `head`, then the error that cut the input short, if any. */
  rest(): AsyncGenerator<Buffer>;
}

export async function peekSource(ref: SourceRef): Promise<PeekedSource> {
  if (ref.error !== undefined) throw ref.error;
  let mtimeMs: number | null = null;
  let rawSize: number | null = null;
  let readChunk = READ_CHUNK;
  if (ref.path !== null) {
    try {
      const st = await stat(ref.path);
      mtimeMs = st.mtimeMs;
      rawSize = st.size;
      // A read stream allocates a whole chunk for every read, and what it hands out keeps that alive: a small file
      // (an S3 export tree holds thousands) would hold a megabyte each until collected.
      readChunk = Math.min(READ_CHUNK, Math.max(MIN_READ_CHUNK, st.size + 1));
    } catch (err) {
      throw new InputError(ref.name, describeFsError(err), 'unreadable');
    }
  }
  const raw: AsyncIterator<Buffer> = (
    ref.path === null ? process.stdin : createReadStream(ref.path, { highWaterMark: readChunk })
  )[Symbol.asyncIterator]();
  const name = ref.name;
  async function* rawBytes(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const r = await raw.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } catch (err) {
      // Destroyed on purpose (an interrupt while waiting on an idle pipe): the input ends where it was.
      if ((err as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw new InputError(name, describeFsError(err), 'unreadable');
    } finally {
      await raw.return?.();
    }
  }
  // Sniff the first bytes, then read the decompressed head.
  const rawIter = rawBytes();
  const first = await rawIter.next();
  const firstBuf = first.done ? Buffer.alloc(0) : first.value;
  const gzip = firstBuf.length >= 2 && firstBuf[0] === 0x1f && firstBuf[1] === 0x8b;
  async function* rawAgain(): AsyncGenerator<Buffer> {
    if (firstBuf.length > 0) yield firstBuf;
    if (first.done) return;
    yield* rawIter;
  }
  const decoded = gzip ? gunzip(name, rawAgain()) : rawAgain();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  // A gzip stream cut short within its first 4 KiB: the lines before the cut are still read (then the error).
  let headError: InputError | null = null;
  try {
    while (headLen < FINGERPRINT_BYTES) {
      const r = await decoded.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      headLen += r.value.length;
    }
  } catch (err) {
    await decoded.return(undefined);
    if (!(gzip && err instanceof InputError && err.code === 'gzip')) throw err;
    headError = err;
    ended = true;
  }
  const headBuf = Buffer.concat(head);
  if (looksBinary(headBuf.subarray(0, FINGERPRINT_BYTES))) {
    await decoded.return(undefined);
    throw new InputError(ref.name, binaryWhat(headBuf, gzip), 'binary');
  }
  return {
    ref,
    gzip,
    mtimeMs,
    rawSize,
    gzipSize: gzip && ref.path !== null ? await trailerSize(ref.path) : null,
    head: headBuf,
    close: async (): Promise<void> => {
      await decoded.return(undefined);
    },
    async *rest(): AsyncGenerator<Buffer> {
      if (headError !== null) throw headError;
      if (!ended) yield* decoded;
    },
  };
}

/** Finishes opening a peeked source: its identity (see `OpenOptions.identify`) and where its bytes start. */
export async function identifySource(peeked: PeekedSource, opts: OpenOptions): Promise<OpenedSource> {
  const { ref, gzip, mtimeMs, rawSize, gzipSize, close } = peeked;
  const headBuf = peeked.head;
  const span = headBuf.subarray(0, FINGERPRINT_BYTES);
  const candidates: FingerprintCandidate[] = [
    { sourceId: fingerprint(opts.kind, span), length: span.length },
  ];
  for (const len of opts.shortLengths?.prefixesOf(span) ?? [])
    candidates.push({ sourceId: fingerprint(opts.kind, span.subarray(0, len)), length: len });
  const identity = opts.identify?.(candidates, span) ?? {
    ...candidates[0]!,
    fingerprintLength: candidates[0]!.length,
    resumeOffset: 0,
  };
  const base = {
    gzipSize,
    ref,
    sourceId: identity.sourceId,
    fingerprintLength: identity.fingerprintLength,
    gzip,
    mtimeMs,
    rawSize,
    // Its own whole text, not that of a source it grew from.
    shortHead:
      span.length < FINGERPRINT_BYTES && identity.fingerprintLength === span.length
        ? { length: span.length, endsLine: span.length > 0 && span[span.length - 1] === 0x0a }
        : null,
    close,
  };
  if (!gzip && identity.resumeOffset > 0 && ref.path !== null) {
    await close();
    return { ...base, bytes: seekRead(ref.path, identity.resumeOffset), startOffset: identity.resumeOffset };
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (headBuf.length > 0) yield headBuf;
    yield* peeked.rest();
  }
  return { ...base, bytes: all(), startOffset: 0 };
}

async function trailerSize(path: string): Promise<number | null> {
  let fh;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    if (size < 18) return null;
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, size - 4);
    return b.readUInt32LE(0);
  } catch {
    return null;
  } finally {
    await fh?.close();
  }
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
    throw gzipError(name, err);
  } finally {
    // A consumer that stops early (interrupt) must not leave the file open.
    z.destroy();
    src.destroy();
  }
}

/** zlib's failure as the input's error: cut short, or not gzip after its magic bytes. */
function gzipError(name: string, err: unknown): InputError {
  const code = (err as NodeJS.ErrnoException).code;
  const what =
    code === 'Z_BUF_ERROR'
      ? 'truncated gzip stream (unexpected end of file)'
      : `corrupt gzip stream (${code ?? 'error'})`;
  return new InputError(name, what, 'gzip');
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

/**
 * The whole text of a document input (an inventory listing, a snapshot), which is parsed at once rather than
 * line by line: a file, gzip or not (sniffed as for logs), or `-` for standard input. A byte order mark is not
 * text: Windows tools write one (Windows PowerShell 5.1's `Out-File -Encoding utf8` and older Notepad a UTF-8 one,
 * its `>` a UTF-16LE one), and JSON.parse refuses a document that begins with it.
 */
export async function readWholeText(path: string, code: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = path === '-' ? await readAll(process.stdin) : await readFile(path);
  } catch (err) {
    throw new InputError(path, describeFsError(err), code);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw gzipError(path, err);
    }
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return bytes.toString('utf8', 3);
  }
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.toString('utf16le', 2);
  return bytes.toString('utf8');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/**
 * Why a binary input is not read, naming the formats a user may hand over by mistake: AWS delivers flow logs to S3
 * as Parquet when asked to (`--destination-options FileFormat=parquet`).
 */
function binaryWhat(head: Buffer, gzip: boolean): string {
  if (head.subarray(0, 4).toString('latin1') === 'PAR1')
    return 'an Apache Parquet file, not a text log: deliver flow logs in the text format (FileFormat=plain-text), or convert it to text first';
  return gzip ? 'binary data inside gzip, not a text log' : 'binary data, not a text log (and not gzip)';
}
