/**
 * The Dataset type: uint8 images N×H×W×C (row-major, HWC) + Int32 labels + class names, with
 * seeded batching. Images stay uint8 until a batch is turned into a tensor, so no path ever holds
 * a whole dataset as float32.
 */
import { Rng } from '../random';

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

  /**
   * @param name e.g. `fashion-mnist/train`
   * @param images N×H×W×C uint8, row-major
   * @param labels N labels in 0..classNames.length-1 (or -1 for unlabeled)
   * @param shape [H, W, C] of one image
   * @param classNames label i ↔ classNames[i]
   * @param stats per-channel mean and std (0..1 scale) used to standardize inputs; usually the train split's
   */
  constructor(
    readonly name: string,
    readonly images: Uint8Array,
    readonly labels: Int32Array,
    readonly shape: [number, number, number],
    readonly classNames: string[],
    readonly stats: ChannelStats = channelStats(images, shape),
  ) {
    const per = shape[0] * shape[1] * shape[2];
    if (images.length % per !== 0) throw new Error(`${name}: ${images.length} image bytes are not a whole number of ${shape.join('×')} images`);
    this.size = images.length / per;
    if (labels.length !== this.size) throw new Error(`${name}: ${this.size} images but ${labels.length} labels`);
  }

  /** Bytes of one image. */
  get imageBytes(): number {
    return this.shape[0] * this.shape[1] * this.shape[2];
  }

  /** Image i as a view (no copy), H×W×C. */
  image(i: number): Uint8Array {
    return this.images.subarray(i * this.imageBytes, (i + 1) * this.imageBytes);
  }

  /** Gathers the given images into one batch (copies). */
  gather(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const per = this.imageBytes;
    const images = new Uint8Array(n * per);
    const labels = new Int32Array(n);
    const idx = Int32Array.from(indices);
    for (let j = 0; j < n; j++) {
      const i = idx[j];
      if (!(i >= 0 && i < this.size)) throw new RangeError(`${this.name}: index ${i} out of range 0..${this.size - 1}`);
      images.set(this.image(i), j * per);
      labels[j] = this.labels[i];
    }
    return { images, labels, indices: idx, shape: [n, ...this.shape], stats: this.stats };
  }

  /** The first n images as one batch (for displays and quick checks). */
  take(n: number): Batch {
    return this.gather(Array.from({ length: Math.min(n, this.size) }, (_, i) => i));
  }

  /** A new Dataset holding the given images (copied), keeping class names and stats. */
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

/** Per-channel mean and std of uint8 images (0..1 scale), over at most 10,000 images. */
export function channelStats(images: Uint8Array, shape: [number, number, number]): ChannelStats {
  const channels = shape[2];
  const n = Math.min(images.length, 10_000 * shape[0] * shape[1] * channels);
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let i = 0; i < n; i++) {
    const v = images[i] / 255;
    sum[i % channels] += v;
    sq[i % channels] += v * v;
  }
  const count = n / channels || 1;
  const mean = Array.from(sum, (s) => s / count);
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / count - mean[c] ** 2, 1e-12)));
  return { mean, std };
}

/** A train and a test split of one dataset. */
export interface DatasetSplits {
  /** e.g. `fashion-mnist`. */
  name: string;
  train: Dataset;
  test: Dataset;
  classNames: string[];
  /** Where the files were read from (a path, or a description for generated data). */
  source: string;
}
