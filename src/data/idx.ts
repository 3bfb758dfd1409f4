/**
 * The IDX format of MNIST and Fashion-MNIST, gzipped or raw. All integers are big-endian:
 * `0x00 0x00 dtype ndim`, then ndim uint32 dims, then prod(dims) values, row-major. Only
 * dtype 0x08 (uint8) is read: images are N×rows×cols (magic 0x00000803), labels N (0x00000801).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as buffer from 'buffer';
import * as zlib from 'zlib';
import { DataError } from './errors';

/** What an IDX file holds: images N×rows×cols or labels N. */
export type IdxKind = 'images' | 'labels';

/** Number of dims of each kind: the last byte of its magic number. */
const NDIM: Record<IdxKind, number> = { images: 3, labels: 1 };
const UINT8 = 0x08;
const DTYPES: Record<number, string> = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };
const DEFAULT_FIX = "replace it with an unmodified copy from the dataset's official archive, or pass {dir} pointing at the unpacked files";

/** A parsed IDX file. */
export interface IdxArray {
  /** [N, rows, cols] for images, [N] for labels. */
  dims: number[];
  /** prod(dims) uint8 values, row-major: a view into the file's bytes (no copy). */
  data: Uint8Array;
}

/** Options of {@link readIdx}. */
export interface ReadIdxOptions {
  /** What to tell the user in error messages (`Fix: ...`). */
  fix?: string;
  /** Expected sha256 (hex) of the DECOMPRESSED bytes; checked when given. */
  sha256?: string;
  /** Labels only: every label must be in 0..numClasses-1. */
  numClasses?: number;
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes 1f 8b. */
function readMaybeGzip(path: string, fix: string): Uint8Array {
  let file: Buffer;
  try {
    file = fs.readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new DataError(path, 'file not found', fix);
    throw new DataError(path, `cannot read the file: ${err.message}`, fix);
  }
  if (file[0] !== 0x1f || file[1] !== 0x8b) return file;
  // Image data compresses by 3–10×; a file that inflates beyond 200× (plus 1 MB) is a gzip bomb
  // or not image data, and decompressing it all could exhaust memory.
  const limit = Math.min(200 * file.length + (1 << 20), buffer.constants.MAX_LENGTH);
  try {
    return zlib.gunzipSync(file, { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError(path, `decompresses to more than ${limit} bytes, 200× its ${file.length} compressed bytes: not an IDX file (a gzip bomb?)`, fix);
    }
    throw new DataError(path, `corrupt gzip data: expected a complete gzip stream, found an error while decompressing (${(e as Error).message})`, fix);
  }
}

function hex32(b: ArrayLike<number>): string {
  return '0x' + Array.from({ length: 4 }, (_, i) => (b[i] ?? 0).toString(16).padStart(2, '0')).join('');
}

/** Explains a 4-byte magic number, e.g. `0x00000801 (IDX uint8, 1 dims: an IDX labels file)`. */
function describeMagic(b: Uint8Array): string {
  if (b[0] !== 0 || b[1] !== 0) return `${hex32(b)} (not an IDX file)`;
  const kind = b[2] === UINT8 ? (Object.keys(NDIM) as IdxKind[]).find((k) => NDIM[k] === b[3]) : undefined;
  return `${hex32(b)} (IDX ${DTYPES[b[2]] ?? 'unknown dtype'}, ${b[3]} dims${kind ? `: an IDX ${kind} file` : ''})`;
}

/**
 * Parses the bytes of an uncompressed IDX file of the given kind.
 * @param path only used in error messages
 * @throws DataError on a wrong magic number, a wrong length, or labels out of range
 */
export function parseIdx(bytes: Uint8Array, kind: IdxKind, path: string, opts: ReadIdxOptions = {}): IdxArray {
  const fix = opts.fix ?? DEFAULT_FIX;
  const ndim = NDIM[kind];
  if (bytes.length < 4) throw new DataError(path, `truncated: expected at least a 4-byte IDX header, found ${bytes.length} bytes`, fix);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== UINT8 || bytes[3] !== ndim) {
    throw new DataError(path, `wrong magic number: expected ${hex32([0, 0, UINT8, ndim])} (IDX uint8 ${kind}, ${ndim} dims), found ${describeMagic(bytes)}`, fix);
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw new DataError(path, `truncated: expected a ${headerBytes}-byte IDX header, found ${bytes.length} bytes`, fix);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i)); // DataView reads big-endian by default
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'too long';
    throw new DataError(path, `${what}: expected ${expected} bytes (${headerBytes}-byte header + ${dims.join('×')} values), found ${bytes.length}`, fix);
  }
  // A plain Uint8Array view (no copy): a Buffer would make `.slice()` return a view instead of a copy.
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, bytes.length - headerBytes);
  const classes = opts.numClasses;
  if (kind === 'labels' && classes !== undefined) {
    const i = data.findIndex((v) => v >= classes);
    if (i >= 0) throw new DataError(path, `label out of range: expected labels in 0..${classes - 1}, found ${data[i]} at index ${i}`, fix);
  }
  return { dims, data };
}

/**
 * Reads an IDX file (gzipped or raw) of the given kind.
 * @throws DataError when the file is missing, not valid gzip, not an IDX file of that kind, of
 *   the wrong length, has labels out of range, or does not match `opts.sha256`
 */
export function readIdx(path: string, kind: IdxKind, opts: ReadIdxOptions = {}): IdxArray {
  const fix = opts.fix ?? DEFAULT_FIX;
  const bytes = readMaybeGzip(path, fix);
  const idx = parseIdx(bytes, kind, path, opts);
  if (opts.sha256 !== undefined) {
    const found = crypto.createHash('sha256').update(bytes).digest('hex');
    if (found !== opts.sha256.toLowerCase()) throw new DataError(path, `sha256 mismatch of the decompressed bytes: expected ${opts.sha256}, found ${found}`, fix);
  }
  return idx;
}

/** Images with their labels, from two IDX files, in the layout of {@link Dataset}. */
export interface IdxPair {
  /** N×rows×cols×1 uint8 (HWC with one channel). */
  images: Uint8Array;
  /** N labels in 0..numClasses-1. */
  labels: Int32Array;
  /** [rows, cols, 1]. */
  shape: [number, number, number];
}

/** Options of {@link readIdxPair}. */
export interface ReadIdxPairOptions {
  /** Labels must be in 0..numClasses-1. */
  numClasses: number;
  /** What to tell the user in error messages. */
  fix?: string;
  /** Expected sha256 of each decompressed file. */
  sha256?: { images: string; labels: string };
}

/**
 * Reads an images file and its labels file and checks that they agree.
 * @throws DataError as {@link readIdx}, or when the image and label counts differ
 */
export function readIdxPair(imagesPath: string, labelsPath: string, opts: ReadIdxPairOptions): IdxPair {
  const { numClasses, fix, sha256 } = opts;
  const images = readIdx(imagesPath, 'images', { fix, sha256: sha256?.images });
  const labels = readIdx(labelsPath, 'labels', { fix, numClasses, sha256: sha256?.labels });
  if (images.dims[0] !== labels.dims[0]) {
    throw new DataError(imagesPath, `image and label counts don't match: expected as many labels as the ${images.dims[0]} images, found ${labels.dims[0]} in ${labelsPath}`, fix ?? DEFAULT_FIX);
  }
  return { images: images.data, labels: Int32Array.from(labels.data), shape: [images.dims[1], images.dims[2], 1] };
}

/** The bytes of an uncompressed uint8 IDX file holding `data` with the given dims. */
export function encodeIdx(data: Uint8Array, dims: number[]): Buffer {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`encodeIdx: ${data.length} values do not fill dims ${dims.join('×')} (${count})`);
  const out = Buffer.alloc(4 + 4 * dims.length + count);
  out.set([0, 0, UINT8, dims.length]);
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Writes `data` as a uint8 IDX file, gzipped when `path` ends with `.gz` (e.g. to make test fixtures). */
export function writeIdx(path: string, data: Uint8Array, dims: number[]): void {
  const bytes = encodeIdx(data, dims);
  fs.writeFileSync(path, path.endsWith('.gz') ? zlib.gzipSync(bytes) : bytes);
}
