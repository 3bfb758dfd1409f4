/**
 * The checkpoint file: one file holding a JSON header (config, options, RNG state, history, …)
 * and named float32 tensors. Layout:
 *   bytes 0–7   "MAGMALAB"
 *   bytes 8–11  format version (uint32 LE)
 *   bytes 12–15 header length H (uint32 LE)
 *   H bytes     UTF-8 JSON header: {..., tensors: [{name, shape, offset, sha256}]} (offsets in
 *               float32s; sha256: the first 16 hex digits of the SHA-256 of the tensor's bytes)
 *   padding to a multiple of 4, then all tensors' float32 values (LE), in header order.
 * Writes go to a temporary file in the same folder that is fsynced and then renamed over the
 * target, so a crash or a full disk never leaves a half-written checkpoint behind; the file it
 * replaces is kept as `<name>.prev.ckpt`. Reads check every tensor's checksum, so flipped bytes
 * are found before they reach a model. Version 1 files (no checksums) are still read.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { writeFileAtomic } from '../io';

const MAGIC = 'MAGMALAB';
const VERSION = 2;

/**
 * A checkpoint file that is missing, truncated, corrupt or inconsistent. The message names the
 * file, the problem and the fix.
 */
export class CheckpointError extends Error {
  override name = 'CheckpointError';

  constructor(readonly file: string, readonly problem: string, readonly fix: string) {
    super(`${problem} (${file}): ${fix}`);
  }
}

/** Where the checkpoint that `file` replaced is kept: `checkpoint.ckpt` → `checkpoint.prev.ckpt`. */
export function previousCheckpointPath(file: string): string {
  return file.replace(/(\.ckpt)?$/, '.prev.ckpt');
}

/** The fix for a bad checkpoint: roll back to the previous one when it exists. */
export function rollBackAdvice(file: string): string {
  const previous = previousCheckpointPath(file);
  return fs.existsSync(previous)
    ? `the checkpoint before it is kept: roll back with \`mv ${previous} ${file}\`, then retry`
    : 'no earlier checkpoint is kept; retrain, or use another checkpoint';
}

const checksum = (values: Float32Array) =>
  createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex').slice(0, 16);

/** A tensor stored in a checkpoint. */
export interface StoredTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** What a checkpoint file holds: any JSON header plus named tensors. */
export interface CheckpointContents<H> {
  header: H;
  tensors: StoredTensor[];
}

/** Writes `contents` to `file` atomically (temp file + fsync + rename). */
export function writeCheckpointFile<H>(file: string, contents: CheckpointContents<H>): void {
  let offset = 0;
  const index = contents.tensors.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.values.length) throw new Error(`checkpoint tensor ${t.name}: shape [${t.shape}] needs ${size} values, got ${t.values.length}`);
    const entry = { name: t.name, shape: t.shape, offset, sha256: checksum(t.values) };
    offset += size;
    return entry;
  });
  const header = Buffer.from(JSON.stringify({ ...contents.header, tensors: index }), 'utf8');
  const start = align4(16 + header.length);
  const buf = Buffer.alloc(start + offset * 4);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(VERSION, 8);
  buf.writeUInt32LE(header.length, 12);
  header.copy(buf, 16);
  const data = new Float32Array(buf.buffer, buf.byteOffset + start, offset);
  contents.tensors.forEach((t, i) => data.set(t.values, index[i].offset));
  writeFileAtomic(file, buf, { keepPreviousAs: previousCheckpointPath(file) });
}

/** One entry of the header's tensor index. */
interface IndexEntry {
  name: string;
  shape: number[];
  offset: number;
  sha256?: string;
}

/**
 * Reads a checkpoint file; throws a {@link CheckpointError} naming the file and the problem when
 * it is not one, is truncated, or a tensor fails its checksum.
 */
export function readCheckpointFile<H>(file: string): CheckpointContents<H> {
  if (!fs.existsSync(file)) {
    throw new CheckpointError(file, 'no checkpoint here', 'give the path of a checkpoint.ckpt or of the run folder that holds one');
  }
  const buf = fs.readFileSync(file);
  const bad = (what: string) => new CheckpointError(file, `not a valid magma-lab checkpoint: ${what}`, rollBackAdvice(file));
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('the MAGMALAB signature is missing (truncated, or from another program)');
  const version = buf.readUInt32LE(8);
  if (version !== 1 && version !== VERSION) throw bad(`format version ${version}; this magma-lab reads versions 1 and ${VERSION}`);
  const headerLength = buf.readUInt32LE(12);
  if (16 + headerLength > buf.length) throw bad(`a header of ${headerLength} bytes, but the file has ${buf.length} (truncated)`);
  let parsed: H & { tensors: IndexEntry[] };
  try {
    parsed = JSON.parse(buf.toString('utf8', 16, 16 + headerLength));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  const start = align4(16 + headerLength);
  const count = Math.floor(Math.max(0, buf.length - start) / 4);
  if (!Array.isArray(parsed?.tensors)) throw bad('the header has no tensor index');
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + count * 4));
  const tensors = parsed.tensors.map((t: IndexEntry) => {
    const wellFormed = typeof t?.name === 'string' && Array.isArray(t.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0) &&
      Number.isInteger(t.offset) && t.offset >= 0;
    if (!wellFormed) throw bad(`a malformed tensor entry ${JSON.stringify(t).slice(0, 120)}`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > count) throw bad(`tensor ${t.name} ends at value ${t.offset + size} but the file holds ${count} (truncated)`);
    const values = data.subarray(t.offset, t.offset + size);
    if (version >= 2 && checksum(values) !== t.sha256) throw bad(`tensor ${t.name} fails its checksum (the file is corrupt)`);
    return { name: t.name, shape: t.shape, values };
  });
  const { tensors: _index, ...header } = parsed;
  return { header: header as unknown as H, tensors };
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
