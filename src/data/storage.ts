/**
 * Where the uint8 images of a split live: in memory (one N×H×W×C Uint8Array) or in a file of the
 * same layout (a decode cache, see ./cache.ts) read image by image with `fs.readSync` at byte
 * offsets, so a split larger than memory (ImageNet-100 at 224 px: 126k × 150 KB = 19 GB) is read
 * one batch at a time. Positions past 2 GiB work because offsets are plain numbers.
 */
import * as fs from 'fs';
import { DataError } from './errors';

/** N images of `imageBytes` bytes each, readable by index. */
export interface ImageStorage {
  /** Number of images. */
  readonly count: number;
  /** Bytes of one image (H·W·C). */
  readonly imageBytes: number;
  /** The whole N×H×W×C array when the images are in memory; undefined for file-backed storage. */
  readonly bytes: Uint8Array | undefined;
  /** Copies the images at `indices` into `out`, one after another (`out` holds indices.length images). */
  read(indices: ArrayLike<number>, out: Uint8Array): void;
  /** The first `n` images (n ≤ count): a copy for memory (so the rest can be freed), a shorter view for a file. */
  head(n: number): ImageStorage;
  /** `in memory` or `file <path>`, for messages. */
  readonly description: string;
}

/** Images held in one Uint8Array, N×H×W×C row-major. */
export class MemoryStorage implements ImageStorage {
  readonly count: number;

  constructor(readonly bytes: Uint8Array, readonly imageBytes: number) {
    if (bytes.length % imageBytes !== 0) throw new RangeError(`${bytes.length} image bytes are not a whole number of ${imageBytes}-byte images`);
    this.count = bytes.length / imageBytes;
  }

  get description(): string {
    return 'in memory';
  }

  read(indices: ArrayLike<number>, out: Uint8Array): void {
    const per = this.imageBytes;
    for (let j = 0; j < indices.length; j++) out.set(this.bytes.subarray(indices[j] * per, (indices[j] + 1) * per), j * per);
  }

  head(n: number): ImageStorage {
    return new MemoryStorage(this.bytes.slice(0, n * this.imageBytes), this.imageBytes);
  }
}

/**
 * Images stored in a file from byte `offset` on, N×H×W×C row-major. Every {@link read} opens the
 * file, reads each image at its offset and closes it, so a Dataset holds no file descriptor.
 */
export class FileStorage implements ImageStorage {
  readonly bytes = undefined;

  /**
   * @param path the file
   * @param offset byte position of image 0
   * @param count number of images
   * @param imageBytes bytes of one image
   */
  constructor(readonly path: string, readonly offset: number, readonly count: number, readonly imageBytes: number) {}

  get description(): string {
    return `file ${this.path}`;
  }

  read(indices: ArrayLike<number>, out: Uint8Array): void {
    const per = this.imageBytes;
    const fd = fs.openSync(this.path, 'r');
    try {
      for (let j = 0; j < indices.length; j++) {
        const read = fs.readSync(fd, out, j * per, per, this.offset + indices[j] * per);
        if (read !== per) {
          throw new DataError(this.path, `truncated while reading: expected ${per} bytes of image ${indices[j]} at byte ${this.offset + indices[j] * per}, found ${read}`,
            'the file changed after it was opened; delete it and load the dataset again to rebuild it');
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  head(n: number): ImageStorage {
    return new FileStorage(this.path, this.offset, n, this.imageBytes);
  }
}

/** Several storages of same-size images seen as one, in order (e.g. STL-10's unlabeled + train images). */
export class ConcatStorage implements ImageStorage {
  readonly count: number;
  readonly imageBytes: number;
  readonly bytes = undefined;

  constructor(readonly parts: ImageStorage[]) {
    if (parts.length === 0) throw new RangeError('ConcatStorage needs at least one part');
    this.imageBytes = parts[0].imageBytes;
    if (parts.some((p) => p.imageBytes !== this.imageBytes)) throw new RangeError(`ConcatStorage parts hold images of different sizes: ${parts.map((p) => p.imageBytes).join(', ')} bytes`);
    this.count = parts.reduce((n, p) => n + p.count, 0);
  }

  get description(): string {
    return this.parts.map((p) => p.description).join(' + ');
  }

  read(indices: ArrayLike<number>, out: Uint8Array): void {
    const per = this.imageBytes;
    for (let j = 0; j < indices.length; j++) {
      let i = indices[j];
      let part = 0;
      while (i >= this.parts[part].count) i -= this.parts[part++].count;
      this.parts[part].read([i], out.subarray(j * per, (j + 1) * per));
    }
  }

  head(n: number): ImageStorage {
    const kept: ImageStorage[] = [];
    for (const p of this.parts) {
      if (n <= 0) break;
      kept.push(p.head(Math.min(n, p.count)));
      n -= p.count;
    }
    return new ConcatStorage(kept);
  }
}
