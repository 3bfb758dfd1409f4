/**
 * The checkpoint file: one file holding a JSON header (config, options, RNG state, history, …)
 * and named float32 tensors. Layout:
 *   bytes 0–7   "MAGMALAB"
 *   bytes 8–11  format version (uint32 LE)
 *   bytes 12–15 header length H (uint32 LE)
 *   H bytes     UTF-8 JSON header: {..., tensors: [{name, shape, offset}]} (offsets in float32s)
 *   padding to a multiple of 4, then all tensors' float32 values (LE), in header order.
 * Writes go to a temporary file in the same folder that is fsynced and then renamed over the
 * target, so a crash or a full disk never leaves a half-written checkpoint behind.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../io';

const MAGIC = 'MAGMALAB';
const VERSION = 1;

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
    const entry = { name: t.name, shape: t.shape, offset };
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
  writeFileAtomic(file, buf);
}

/** Reads a checkpoint file; throws an error naming the file and the problem when it is not one. */
export function readCheckpointFile<H>(file: string): CheckpointContents<H> {
  if (!fs.existsSync(file)) throw new Error(`no checkpoint at ${file}; give the path of a checkpoint.ckpt or of the run folder that holds one`);
  const buf = fs.readFileSync(file);
  const bad = (what: string) => new Error(`${file} is not a valid magma-lab checkpoint: ${what}. It may be truncated or from another program; use another checkpoint or retrain`);
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('missing the MAGMALAB signature');
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) throw bad(`format version ${version}, this magma-lab reads version ${VERSION}`);
  const headerLength = buf.readUInt32LE(12);
  if (16 + headerLength > buf.length) throw bad(`header of ${headerLength} bytes but the file has ${buf.length}`);
  let parsed: H & { tensors: { name: string; shape: number[]; offset: number }[] };
  try {
    parsed = JSON.parse(buf.toString('utf8', 16, 16 + headerLength));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const start = align4(16 + headerLength);
  const count = (buf.length - start) / 4;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  const tensors = parsed.tensors.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > count) throw bad(`tensor ${t.name} ends at value ${t.offset + size} but the file holds ${count}`);
    return { name: t.name, shape: t.shape, values: data.subarray(t.offset, t.offset + size) };
  });
  const { tensors: _index, ...header } = parsed;
  return { header: header as unknown as H, tensors };
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
