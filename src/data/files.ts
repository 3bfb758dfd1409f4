/**
 * Reading dataset files without ever holding a big one whole: sizes, consecutive chunks read
 * with `fs.readSync` at explicit positions (Node's `readFileSync` refuses files over 2 GiB, and
 * STL-10's unlabeled_X.bin is 2.76 GB), md5/sha256 digests, and one-name-per-line text files.
 * Every problem is a {@link DataError} naming the file.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { DataError } from './errors';

/** Default bytes read per chunk: 64 MiB. */
export const CHUNK_BYTES = 64 * 1024 * 1024;

/** Size of `file` in bytes. @throws DataError when it is missing or not a file */
export function fileSize(file: string, fix: string): number {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new DataError(file, 'file not found', fix);
  if (!stat.isFile()) throw new DataError(file, 'expected a file, found a folder or special file', fix);
  return stat.size;
}

/**
 * Calls `fn(chunk, position)` on consecutive chunks of `file`, each at most `chunkBytes` long
 * (the last may be shorter); `chunk` is reused between calls, so copy what you keep.
 * `chunkBytes` should be a multiple of the record size of the caller's format, so no record
 * straddles two chunks.
 */
export function readChunks(file: string, chunkBytes: number, fn: (chunk: Uint8Array, position: number) => void, fix: string): void {
  const size = fileSize(file, fix);
  const buffer = new Uint8Array(Math.max(1, Math.min(chunkBytes, size)));
  const fd = fs.openSync(file, 'r');
  try {
    for (let position = 0; position < size; position += buffer.length) {
      const length = Math.min(buffer.length, size - position);
      const read = fs.readSync(fd, buffer, 0, length, position);
      if (read !== length) throw new DataError(file, `read ${read} bytes at byte ${position}, expected ${length}: the file shrank while being read`, fix);
      fn(buffer.subarray(0, length), position);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The hex md5 or sha256 of a file, read in chunks. */
function fileDigest(file: string, algorithm: 'md5' | 'sha256', fix: string): string {
  const hash = crypto.createHash(algorithm);
  readChunks(file, CHUNK_BYTES, (chunk) => hash.update(chunk), fix);
  return hash.digest('hex');
}

/** @throws DataError when the file's digest is not `expected` */
export function checkDigest(file: string, algorithm: 'md5' | 'sha256', expected: string, fix: string): void {
  const found = fileDigest(file, algorithm, fix);
  if (found !== expected) throw new DataError(file, `${algorithm} mismatch: expected ${expected} (the official file), found ${found}`, fix);
}

/** The non-empty lines of a text file, trimmed (name files end with blank lines, some with \r). */
export function readLines(file: string, fix: string): string[] {
  fileSize(file, fix);
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/**
 * The lines of a names file (one class name per line), checked to be exactly `count`.
 * @throws DataError when the file is missing or has another number of names
 */
export function readNames(file: string, count: number, fix: string): string[] {
  const names = readLines(file, fix);
  if (names.length !== count) throw new DataError(file, `expected ${count} names, one per line, found ${names.length}`, fix);
  return names;
}
