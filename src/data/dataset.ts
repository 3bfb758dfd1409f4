/**
 * The Dataset type: uint8 images N×H×W×C (row-major, HWC) + Int32 labels + class names, with
 * seeded batching. Images stay uint8 until a batch is turned into a tensor, so no path ever holds
 * a whole dataset as float32. The images are in memory or in a file read per batch (./storage.ts).
 */
import { Rng } from '../random';
import { type ImageStorage, MemoryStorage } from './storage';

/** One batch of images, still uint8, with the dataset indices they came from. */
export interface Batch {
  /** n×H×W×C uint8, row-major. */
  images: Uint8Array;
  /** n labels (-1 where the dataset has none). */
  labels: Int32Array;
  /** Index of each image in its dataset. */
  indices: Int32Array;
  /** [n, H, W, C]. */
  shape: [number, number, number, number];
  /** Statistics that standardize these images (the dataset's), used by batchToTensor. */
  stats: ChannelStats;
}

/** Per-channel pixel statistics on the 0..1 scale, used to standardize model inputs. */
/** Images [start, end) of a batch, sharing its memory (views, nothing copied). */
export function sliceBatch(batch: Batch, start: number, end: number): Batch {
  const [, h, w, c] = batch.shape;
  const per = h * w * c;
  return {
    ...batch, images: batch.images.subarray(start * per, end * per), labels: batch.labels.subarray(start, end),
    indices: batch.indices.subarray(start, end), shape: [end - start, h, w, c],
  };
}

export interface ChannelStats {
  mean: number[];
  std: number[];
}

/** A function that changes a batch in place or returns a new one (e.g. random-resized crop). */
export type BatchTransform = (batch: Batch, rng: Rng) => Batch;

/** Options of {@link Dataset.batches}. */
export interface BatchOptions {
  /** Seed of the shuffle (and of `transform`); the order is a function of (seed, epoch) only. */
  seed: number;
  /** Epoch number: each epoch has its own order. Default 0. */
  epoch?: number;
  /** Shuffle the order. Default true. */
  shuffle?: boolean;
  /** Drop the last incomplete batch. Default true when shuffling, false otherwise. */
  dropLast?: boolean;
  /** Skip this many batches first (to resume inside an epoch). Default 0. */
  skip?: number;
  /** Applied to each batch with an Rng derived from (seed, epoch, batch index). */
  transform?: BatchTransform;
}

/** Images and labels of one split. */
export class Dataset {
  /** Number of images. */
  readonly size: number;
  /** Where the images are: in memory, or a file read per batch. */
  readonly storage: ImageStorage;

  /**
   * @param name e.g. `fashion-mnist/train`
   * @param images N×H×W×C uint8, row-major: an array, or an {@link ImageStorage} (e.g. a file)
   * @param labels N labels in 0..classNames.length-1 (or -1 for unlabeled)
   * @param shape [H, W, C] of one image
   * @param classNames label i ↔ classNames[i]
   * @param stats per-channel mean and std (0..1 scale) used to standardize inputs; usually the train split's
   */
  constructor(
    readonly name: string,
    images: Uint8Array | ImageStorage,
    readonly labels: Int32Array,
    readonly shape: [number, number, number],
    readonly classNames: string[],
    readonly stats: ChannelStats = channelStats(images, shape),
  ) {
    const per = shape[0] * shape[1] * shape[2];
    if (images instanceof Uint8Array && images.length % per !== 0) throw new Error(`${name}: ${images.length} image bytes are not a whole number of ${shape.join('×')} images`);
    this.storage = images instanceof Uint8Array ? new MemoryStorage(images, per) : images;
    if (this.storage.imageBytes !== per) throw new Error(`${name}: storage holds ${this.storage.imageBytes}-byte images, not ${shape.join('×')}`);
    this.size = this.storage.count;
    if (labels.length !== this.size) throw new Error(`${name}: ${this.size} images but ${labels.length} labels`);
  }

  /**
   * All images, N×H×W×C, when they are in memory (see {@link Dataset.inMemory}). A file-backed
   * dataset has no such array: use {@link Dataset.image}, {@link Dataset.gather} or {@link Dataset.batches}.
   */
  get images(): Uint8Array {
    const bytes = this.storage.bytes;
    if (!bytes) throw new Error(`${this.name}: the images are read from ${this.storage.description} per batch, so there is no in-memory array; use image(i), gather() or batches()`);
    return bytes;
  }

  /** Whether all images are in one in-memory array ({@link Dataset.images}). */
  get inMemory(): boolean {
    return this.storage.bytes !== undefined;
  }

  /** Bytes of one image. */
  get imageBytes(): number {
    return this.shape[0] * this.shape[1] * this.shape[2];
  }

  /** Image i, H×W×C: a view (no copy) when in memory, else a copy read from the file. */
  image(i: number): Uint8Array {
    const bytes = this.storage.bytes;
    if (bytes) return bytes.subarray(i * this.imageBytes, (i + 1) * this.imageBytes);
    const out = new Uint8Array(this.imageBytes);
    this.storage.read([i], out);
    return out;
  }

  /** Gathers the given images into one batch (copies). */
  gather(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const idx = Int32Array.from(indices);
    const labels = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const i = idx[j];
      if (!(i >= 0 && i < this.size)) throw new RangeError(`${this.name}: index ${i} out of range 0..${this.size - 1}`);
      labels[j] = this.labels[i];
    }
    const images = new Uint8Array(n * this.imageBytes);
    this.storage.read(idx, images);
    return { images, labels, indices: idx, shape: [n, ...this.shape], stats: this.stats };
  }

  /** The first n images as one batch (for displays and quick checks). */
  take(n: number): Batch {
    return this.gather(Array.from({ length: Math.min(n, this.size) }, (_, i) => i));
  }

  /** A new in-memory Dataset holding the given images (copied), keeping class names and stats. */
  subset(indices: ArrayLike<number>, name = `${this.name}[subset]`): Dataset {
    const b = this.gather(indices);
    return new Dataset(name, b.images, b.labels, this.shape, this.classNames, this.stats);
  }

  /** How many batches {@link Dataset.batches} yields for this batch size. */
  numBatches(batchSize: number, dropLast = true): number {
    return dropLast ? Math.floor(this.size / batchSize) : Math.ceil(this.size / batchSize);
  }

  /** The order of one epoch: a permutation that depends only on (seed, epoch). */
  order(seed: number, epoch = 0, shuffle = true): Int32Array {
    if (!shuffle) return Int32Array.from({ length: this.size }, (_, i) => i);
    return new Rng(seed, epoch, 0x5eed).permutation(this.size);
  }

  /** Yields the batches of one epoch in a seeded order. */
  *batches(batchSize: number, opts: BatchOptions): Generator<Batch> {
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    const { seed, epoch = 0, shuffle = true, skip = 0, transform } = opts;
    const dropLast = opts.dropLast ?? shuffle;
    const order = this.order(seed, epoch, shuffle);
    const count = this.numBatches(batchSize, dropLast);
    for (let b = skip; b < count; b++) {
      const batch = this.gather(order.subarray(b * batchSize, Math.min((b + 1) * batchSize, this.size)));
      yield transform ? transform(batch, new Rng(seed, epoch, b, 0xa06)) : batch;
    }
  }
}

/** Images read per step of {@link channelStats}. */
const STATS_CHUNK = 256;

/** Most pixel bytes {@link channelStats} reads: 256 MiB (10,000 images up to 94×94×3, 1,700 at 224×224×3). */
const STATS_MAX_BYTES = 256 * 2 ** 20;

/**
 * Per-channel mean and std of uint8 images (0..1 scale), over all images, or a fixed random
 * sample when there are more than `maxImages` or than 256 MiB of them: a bounded read for
 * file-backed splits, and fair for ordered ones (image folders are sorted by class; MNIST's even
 * and odd images differ in mean).
 */
export function channelStats(images: Uint8Array | ImageStorage, shape: [number, number, number], maxImages = 10_000): ChannelStats {
  const channels = shape[2];
  const per = shape[0] * shape[1] * channels;
  const storage = images instanceof Uint8Array ? new MemoryStorage(images, per) : images;
  const n = Math.min(storage.count, maxImages, Math.max(1, Math.floor(STATS_MAX_BYTES / per)));
  const sample = n === storage.count ? Int32Array.from({ length: n }, (_, i) => i) : new Rng(0x57a75).permutation(storage.count).subarray(0, n).sort();
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const chunk = new Uint8Array(Math.min(n, STATS_CHUNK) * per);
  for (let start = 0; start < n; start += STATS_CHUNK) {
    const indices = sample.subarray(start, Math.min(start + STATS_CHUNK, n));
    storage.read(indices, chunk);
    const values = indices.length * per;
    for (let i = 0; i < values; i++) {
      const v = chunk[i] / 255;
      sum[i % channels] += v;
      sq[i % channels] += v * v;
    }
  }
  const count = (n * per) / channels || 1;
  const mean = Array.from(sum, (s) => s / count);
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / count - mean[c] ** 2, 1e-12)));
  return { mean, std };
}

/** How a split's decoded images were found in the decode cache (./cache.ts). */
export interface CacheReport {
  /** `train`, `test` or `unlabeled`. */
  split: string;
  /** The cache file. */
  file: string;
  /** `hit`: read from a valid cache; `written`: decoded now and cached. */
  status: 'hit' | 'written';
}

/** A train and a test split of one dataset, with what else its files hold. */
export interface DatasetSplits {
  /** e.g. `fashion-mnist`. */
  name: string;
  train: Dataset;
  test: Dataset;
  /** Images without labels (labels −1), for self-supervised training: STL-10's 100k, when asked for. */
  unlabeled?: Dataset;
  classNames: string[];
  /** Identifiers of the classes where they differ from the names: WordNet ids (Tiny-ImageNet, ImageNet-100). */
  classIds?: string[];
  /** CIFAR-100's 20 superclasses: names and the train/test images' coarse labels (aligned with the splits). */
  coarse?: { classNames: string[]; train: Int32Array; test: Int32Array };
  /** Image counts of the official release, to compare with what was found. */
  officialCounts?: { train: number; test: number; unlabeled?: number };
  /** Decode-cache use of each decoded split (image-folder datasets). */
  caches?: CacheReport[];
  /** Where the files were read from (a path, or a description for generated data). */
  source: string;
}
