/**
 * Files of fixed-size records without header or delimiter (CIFAR's and STL-10's binary
 * versions), and the planar pixel layouts they use: C planes of H×W (R, then G, then B), each
 * plane row-major (CIFAR) or column-major (STL-10, MATLAB order). Records are converted to the
 * Dataset layout H×W×C as they are read, a chunk of records at a time.
 */
import { DataError } from './errors';
import { fileSize, readChunks } from './files';

/** How the pixels of one planar image are laid out. */
export interface PlanarLayout {
  height: number;
  width: number;
  channels: number;
  /** `row-major`: plane[y·W + x] (CIFAR); `column-major`: plane[x·H + y] (STL-10). */
  order: 'row-major' | 'column-major';
}

/**
 * Number of records in a file of `recordBytes`-byte records.
 * @param what e.g. `CIFAR-10 records (1 label byte + 3072 pixel bytes)`, for the message
 * @throws DataError when the file is missing, empty, or not a whole number of records
 */
export function recordCount(file: string, recordBytes: number, what: string, fix: string): number {
  const size = fileSize(file, fix);
  if (size === 0 || size % recordBytes !== 0) {
    const whole = Math.floor(size / recordBytes);
    throw new DataError(file, `${size === 0 ? 'empty' : 'truncated or not this format'}: expected a whole number of ${recordBytes}-byte ${what}, found ${size} bytes (${whole} records + ${size % recordBytes} bytes)`, fix);
  }
  return size / recordBytes;
}

/**
 * Calls `fn(record, index)` on every record of a file, reading `chunkRecords` records at a time
 * (the file is never held whole). `record` is a view into a reused buffer.
 */
export function forEachRecord(file: string, recordBytes: number, chunkRecords: number, fn: (record: Uint8Array, index: number) => void, fix: string): void {
  readChunks(file, chunkRecords * recordBytes, (chunk, position) => {
    const first = position / recordBytes;
    for (let r = 0; r * recordBytes < chunk.length; r++) fn(chunk.subarray(r * recordBytes, (r + 1) * recordBytes), first + r);
  }, fix);
}

/** Copies one planar image `src` (C planes of H×W) into `out`, H×W×C row-major. */
export function planarToHwc(src: Uint8Array, out: Uint8Array, layout: PlanarLayout): void {
  const { height: h, width: w, channels: c, order } = layout;
  // Walk src in storage order; (outer, inner) = (y, x) for row-major planes, (x, y) for column-major.
  const [outerStride, innerStride] = order === 'row-major' ? [w * c, c] : [c, w * c];
  const [outer, inner] = order === 'row-major' ? [h, w] : [w, h];
  let i = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let a = 0; a < outer; a++) {
      let o = a * outerStride + ch;
      for (let b = 0; b < inner; b++, o += innerStride) out[o] = src[i++];
    }
  }
}
