/**
 * Datasets of image files (Tiny-ImageNet, ImageNet-100): listing the files of a split with their
 * labels (the ImageFolder convention: one folder per class, label = position of the class id in
 * sorted order), and turning a listing into uint8 images through the decode cache:
 *
 *   list files + fingerprint  →  valid cache?  yes → read it (into memory, or per batch from the file)
 *                                              no  → decode on worker threads → cache (+ memory)
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ProgressBar } from '../progress';
import { check } from '../config';
import { cacheFile, cacheFolder, cacheHeader, CacheWriter, openCache, readIntoMemory, type SourceFingerprint } from './cache';
import type { CacheReport } from './dataset';
import { DECODED_CHANNELS, decodeFiles } from './decode';
import { DataError } from './errors';
import type { LoadOptions, RawSplit } from './load';
import type { ImageStorage } from './storage';

/** Image files with their labels, in dataset order. */
export interface ImageList {
  files: string[];
  labels: Int32Array;
}

/** File names read as images: JPEG and PNG, any case (ImageNet's end in `.JPEG`). */
const IMAGE_FILE = /\.(jpe?g|png)$/i;

/** The image files directly inside `dir`, sorted by name. @throws DataError when `dir` is missing or has none */
function imageFiles(dir: string, fix: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    throw new DataError(dir, 'folder not found', fix);
  }
  const files = names.filter((n) => IMAGE_FILE.test(n)).sort().map((n) => path.join(dir, n));
  if (files.length === 0) throw new DataError(dir, `no image files (.JPEG, .jpg, .png) found among ${names.length} entries`, fix);
  return files;
}

/**
 * The ImageFolder listing of `root`: the images of `root/<classIds[i]>/<inner>` get label i.
 * @throws DataError naming the missing class folders, or an empty one
 */
export function listClassFolders(root: string, classIds: string[], fix: string, inner = ''): ImageList {
  const missing = classIds.filter((id) => !fs.existsSync(path.join(root, id)));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length - 5} more)` : '');
    throw new DataError(root, `missing ${missing.length} of the ${classIds.length} class folders: ${shown}`, fix);
  }
  const perClass = classIds.map((id) => imageFiles(path.join(root, id, inner), fix));
  return { files: perClass.flat(), labels: Int32Array.from(perClass.flatMap((files, label) => files.map(() => label))) };
}

/** Stats every file of the listing (so a missing one is named) and sums up what a change would alter. */
function fingerprint(list: ImageList, root: string, fix: string): SourceFingerprint {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let newestMtimeMs = 0;
  list.files.forEach((file, i) => {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) throw new DataError(file, 'image file not found', fix);
    bytes += stat.size;
    newestMtimeMs = Math.max(newestMtimeMs, stat.mtimeMs);
    hash.update(`${path.relative(root, file)}\t${list.labels[i]}\n`);
  });
  return { files: list.files.length, bytes, newestMtimeMs, listHash: hash.digest('hex').slice(0, 16) };
}

/** Options of the datasets decoded from image files. */
export interface DecodedOptions extends LoadOptions {
  /** Side of the square images: shorter side resized to it, center crop. Default: the dataset's (64 for Tiny-ImageNet, 224 for ImageNet-100). */
  size?: number;
  /** Decode cache: true (default) = `$MAGMA_LAB_DATA/.cache` or `<repo>/data/.cache`; a folder; false = decode every time. */
  cache?: boolean | string;
  /**
   * Where a split's images live: `memory`, `file` (read per batch from the cache file; needs the
   * cache), or `auto` (default): memory when the split's uint8 images take at most a quarter of RAM.
   */
  storage?: 'auto' | 'memory' | 'file';
  /** Decoding worker threads. Default: the number of cores. */
  workers?: number;
  /** Show a progress bar on stderr while decoding. Default true. */
  progress?: boolean;
}

/** The option keys of {@link DecodedOptions} besides the limits, for the registry in load.ts. */
export const DECODED_OPTION_KEYS = ['dir', 'size', 'cache', 'storage', 'workers', 'progress'];

/** Checks the options of a decoded dataset. @throws ConfigError naming the bad one */
export function checkDecodedOptions(name: string, opts: DecodedOptions): void {
  const { size, storage, workers, cache } = opts;
  check(size === undefined || (Number.isInteger(size) && size >= 8 && size <= 1024), `${name}: size must be an integer from 8 to 1024, got ${size}`);
  check(storage === undefined || ['auto', 'memory', 'file'].includes(storage), `${name}: storage must be 'auto', 'memory' or 'file', got ${JSON.stringify(storage)}`);
  check(workers === undefined || (Number.isInteger(workers) && workers > 0), `${name}: workers must be a positive integer, got ${workers}`);
  check(!(storage === 'file' && cache === false), `${name}: storage 'file' reads the images from the decode cache; do not pass cache: false with it`);
}

/** One split of image files to decode. */
export interface DecodeSplitSpec {
  /** e.g. `tiny-imagenet`. */
  dataset: string;
  /** e.g. `train`. */
  split: string;
  /** The folder the files are listed from. */
  root: string;
  list: ImageList;
  /** Side of the square images. */
  size: number;
  /** What to tell the user when a file is missing or bad. */
  fix: string;
}

/**
 * The split's images decoded to size×size×3: read from a valid cache, else decoded on worker
 * threads (and cached unless `cache: false`). Kept in memory or file-backed as `opts.storage` says.
 */
export async function decodeSplit(spec: DecodeSplitSpec, opts: DecodedOptions): Promise<{ split: RawSplit; cache?: CacheReport }> {
  const { list, size } = spec;
  const shape: [number, number, number] = [size, size, DECODED_CHANNELS];
  const imageBytes = size * size * DECODED_CHANNELS;
  const count = list.files.length;
  const folder = cacheFolder(opts.cache);
  const storage = opts.storage ?? 'auto';
  const inMemory = folder === undefined || storage === 'memory' || (storage === 'auto' && count * imageBytes <= os.totalmem() / 4);
  const header = cacheHeader({
    dataset: spec.dataset, split: spec.split, source: path.resolve(spec.root), count, shape,
    transform: `sharp: shorter side to ${size}, center crop ${size}×${size}, sRGB uint8`,
    fingerprint: fingerprint(list, spec.root, spec.fix),
  });
  const file = folder === undefined ? undefined : cacheFile(folder, header);
  const cached = file === undefined ? undefined : openCache(file, header);
  if (file !== undefined && cached !== undefined) {
    return { split: { images: inMemory ? readIntoMemory(cached) : cached, labels: list.labels }, cache: { split: spec.split, file, status: 'hit' } };
  }
  const memory = inMemory ? new Uint8Array(count * imageBytes) : undefined;
  const writer = file === undefined ? undefined : new CacheWriter(file, header);
  const bar = opts.progress === false ? undefined : new ProgressBar(`decode ${spec.dataset}/${spec.split} at ${size}px`);
  let fileBacked: ImageStorage | undefined;
  try {
    await decodeFiles(list.files, {
      size, workers: opts.workers,
      onImages: (first, pixels) => {
        writer?.write(first, pixels);
        memory?.set(pixels, first * imageBytes);
      },
      onProgress: (done, total) => bar?.update({ done, total }),
    });
    fileBacked = writer?.commit();
  } catch (e) {
    writer?.abort();
    throw e;
  } finally {
    bar?.finish();
  }
  // Not in memory implies a cache (see inMemory), so one of the two is set.
  const images = memory ?? (fileBacked as ImageStorage);
  return { split: { images, labels: list.labels }, cache: file === undefined ? undefined : { split: spec.split, file, status: 'written' } };
}
