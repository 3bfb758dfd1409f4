/**
 * The decode cache: the decoded uint8 images of one split, so that the second load of an image
 * folder dataset reads one file instead of decoding 100k JPEGs. One file per (source folder,
 * split, size), in `$MAGMA_LAB_DATA/.cache/` or `<repo>/data/.cache/`:
 *
 *   bytes 0..7    magic `MLCACHE1`
 *   bytes 8..11   uint32 little-endian length L of the JSON header
 *   bytes 12..    the header ({@link CacheHeader}) as JSON, zero-padded to a multiple of 4096
 *   then          N×H×W×C uint8 images, row-major (read in place by {@link FileStorage})
 *
 * A cache is used only when its header equals the expected one, which includes a fingerprint of
 * the source files (count, total size, newest mtime, hash of the names and labels), and its size
 * is exact; anything else is rebuilt. Writes go to a temporary file renamed over the target when
 * complete, so a reader never sees half a cache.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CHUNK_BYTES, readChunks } from './files';
import { REPO_ROOT } from './locate';
import { FileStorage } from './storage';

const MAGIC = 'MLCACHE1';
const ALIGN = 4096;
/** Bumped when the decoding or the layout changes, so older caches are rebuilt. */
const FORMAT_VERSION = 1;

/** What the source files looked like: any change of files, sizes, times or labels changes it. */
export interface SourceFingerprint {
  files: number;
  bytes: number;
  newestMtimeMs: number;
  /** sha256 (hex, first 16) of the relative file names and labels, in order. */
  listHash: string;
}

/** Everything a cache's images depend on. */
export interface CacheHeader {
  version: number;
  dataset: string;
  split: string;
  /** The split's source folder, resolved. */
  source: string;
  /** How images were made from the files, e.g. `sharp: shorter side to 64, center crop 64×64, sRGB`. */
  transform: string;
  fingerprint: SourceFingerprint;
  count: number;
  shape: [number, number, number];
}

/** The header of a cache of `count` images of `shape`, with the current format version. */
export function cacheHeader(fields: Omit<CacheHeader, 'version'>): CacheHeader {
  return { version: FORMAT_VERSION, ...fields };
}

/**
 * The cache folder for the `cache` option: a string is the folder; true (default) means
 * `$MAGMA_LAB_DATA/.cache` when that is set, else `<repo>/data/.cache`; false disables caching.
 */
export function cacheFolder(option: boolean | string | undefined): string | undefined {
  if (option === false) return undefined;
  if (typeof option === 'string') return option;
  const env = process.env.MAGMA_LAB_DATA;
  return env ? path.join(env, '.cache') : path.join(REPO_ROOT, 'data', '.cache');
}

/** The cache file of a split: readable name + hash of the source folder, e.g. `tiny-imagenet-train-64px-3f2a….u8`. */
export function cacheFile(folder: string, header: CacheHeader): string {
  const id = crypto.createHash('sha256').update(header.source).digest('hex').slice(0, 12);
  return path.join(folder, `${header.dataset}-${header.split}-${header.shape[0]}px-${id}.u8`);
}

/** The file's bytes before the images: magic, length, JSON, padding. */
function encodeHeader(header: CacheHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(Math.ceil((12 + json.length) / ALIGN) * ALIGN);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  return out;
}

/**
 * The images of a valid cache as file-backed storage, or undefined when the file is missing,
 * was written for other sources or settings, or has the wrong size (e.g. cut short).
 */
export function openCache(file: string, expected: CacheHeader): FileStorage | undefined {
  const want = encodeHeader(expected);
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
  const imageBytes = expected.shape[0] * expected.shape[1] * expected.shape[2];
  if (size !== want.length + expected.count * imageBytes) return undefined;
  const found = Buffer.alloc(want.length);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, found, 0, found.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return found.equals(want) ? new FileStorage(file, want.length, expected.count, imageBytes) : undefined;
}

/** Reads all images of a file-backed storage into memory, in chunks (works past 2 GiB). */
export function readIntoMemory(storage: FileStorage): Uint8Array {
  const out = new Uint8Array(storage.count * storage.imageBytes);
  readChunks(storage.path, CHUNK_BYTES, (chunk, position) => {
    const at = position - storage.offset;
    if (at + chunk.length <= 0) return;
    out.set(at >= 0 ? chunk : chunk.subarray(-at), Math.max(at, 0));
  }, 'delete the cache file; it is rebuilt on the next load');
  return out;
}

/**
 * A cache file being written: images arrive in any order ({@link CacheWriter.write} at their
 * index), {@link CacheWriter.commit} syncs and renames the temporary file over the target, and
 * {@link CacheWriter.abort} removes it.
 */
export class CacheWriter {
  /** Byte position of image 0. */
  readonly offset: number;
  private readonly temp: string;
  private fd: number | undefined;

  constructor(readonly file: string, readonly header: CacheHeader) {
    const head = encodeHeader(header);
    this.offset = head.length;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.temp = `${file}.tmp-${process.pid}`;
    this.fd = fs.openSync(this.temp, 'w');
    fs.writeSync(this.fd, head, 0, head.length, 0);
  }

  private get imageBytes(): number {
    return this.header.shape[0] * this.header.shape[1] * this.header.shape[2];
  }

  private get openFd(): number {
    if (this.fd === undefined) throw new Error(`cache ${this.file} is already closed`);
    return this.fd;
  }

  /** Writes images first, first+1, … (`pixels` holds whole images). */
  write(first: number, pixels: Uint8Array): void {
    const fd = this.openFd;
    let done = 0;
    while (done < pixels.length) done += fs.writeSync(fd, pixels, done, pixels.length - done, this.offset + first * this.imageBytes + done);
  }

  /** Flushes the file to disk and renames it over the target; returns the images as file-backed storage. */
  commit(): FileStorage {
    const fd = this.openFd;
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    this.fd = undefined;
    fs.renameSync(this.temp, this.file);
    return new FileStorage(this.file, this.offset, this.header.count, this.imageBytes);
  }

  /** Closes and deletes the temporary file (after a failure). */
  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.temp, { force: true });
  }
}
