/**
 * `load(name, opts)`: the registry of datasets. Each dataset has a reader in its own module that
 * returns raw uint8 images ({@link RawSplits}: arrays, or file-backed storage for decoded sets too
 * big for memory); this file checks the options, applies the limits and standardizes every split
 * with the train split's statistics.
 *
 * To add a dataset: write a reader returning {@link RawSplits}, add its options to
 * {@link DatasetOptions} and an entry to `sources`.
 */
import { check } from '../config';
import { readCifar10, readCifar100 } from './cifar';
import { type CacheReport, Dataset, type DatasetSplits, channelStats } from './dataset';
import { DECODED_OPTION_KEYS, type DecodedOptions } from './imagefolder';
import { imagenet100Dir, readImagenet100 } from './imagenet100';
import { FashionMnistOptions, readFashionMnist, readMnist } from './mnist';
import { readStl10, type Stl10Options } from './stl10';
import type { ImageStorage } from './storage';
import { SyntheticOptions, synthetic } from './synthetic';
import { readTinyImagenet, tinyImagenetDir } from './tinyimagenet';

/** One split as read: N×H×W×C uint8 images (HWC, row-major; in memory or file-backed) and N labels. */
export interface RawSplit {
  images: Uint8Array | ImageStorage;
  /** N labels, −1 for unlabeled images. */
  labels: Int32Array;
  /** CIFAR-100's coarse (superclass) label of each image. */
  coarseLabels?: Int32Array;
}

/** What a dataset reader returns, before limits and statistics. */
export interface RawSplits {
  /** [H, W, C] of one image. */
  shape: [number, number, number];
  classNames: string[];
  train: RawSplit;
  test: RawSplit;
  /** Images without labels (STL-10's, when asked for). */
  unlabeled?: RawSplit;
  /** See {@link DatasetSplits.classIds}. */
  classIds?: string[];
  /** CIFAR-100's 20 superclass names (the splits' `coarseLabels` index them). */
  coarseClassNames?: string[];
  /** See {@link DatasetSplits.officialCounts}. */
  officialCounts?: DatasetSplits['officialCounts'];
  /** See {@link DatasetSplits.caches}. */
  caches?: CacheReport[];
  /** Where the data came from (a folder, or a description of generated data). */
  source: string;
}

/** Options of every dataset that is read from files. */
export interface LoadOptions {
  /** Folder holding the dataset's files (instead of the places searched by default). */
  dir?: string;
  /** Keep only the first N train images (for quick runs). */
  trainLimit?: number;
  /** Keep only the first N test images. */
  testLimit?: number;
}

/** The options of each dataset, by name. */
export interface DatasetOptions {
  'fashion-mnist': FashionMnistOptions;
  mnist: LoadOptions;
  synthetic: Omit<LoadOptions, 'dir'> & SyntheticOptions;
  cifar10: LoadOptions;
  cifar100: LoadOptions;
  stl10: Stl10Options;
  'tiny-imagenet': DecodedOptions;
  imagenet100: DecodedOptions;
}

/** A dataset's name. */
export type DatasetName = keyof DatasetOptions;

interface Source<O> {
  /** Option keys, besides `trainLimit` and `testLimit`. */
  options: string[];
  read(opts: O): RawSplits | Promise<RawSplits>;
  /** The folder holding the files, found without reading them (image folders, whose first read decodes every image). */
  locate?(opts: O): string;
}

const sources: { [N in DatasetName]: Source<DatasetOptions[N]> } = {
  'fashion-mnist': { options: ['dir', 'verify'], read: readFashionMnist },
  mnist: { options: ['dir'], read: readMnist },
  synthetic: { options: ['seed', 'size', 'channels', 'trainSize', 'testSize', 'classes'], read: synthetic },
  cifar10: { options: ['dir'], read: readCifar10 },
  cifar100: { options: ['dir'], read: readCifar100 },
  stl10: { options: ['dir', 'unlabeled', 'verify', 'chunkImages'], read: readStl10 },
  'tiny-imagenet': { options: DECODED_OPTION_KEYS, read: readTinyImagenet, locate: tinyImagenetDir },
  imagenet100: { options: DECODED_OPTION_KEYS, read: readImagenet100, locate: imagenet100Dir },
};

/** The names {@link load} accepts. */
export const datasetNames = Object.keys(sources) as DatasetName[];

/** Whether `name` is a dataset {@link load} knows. */
export function isDatasetName(name: string): name is DatasetName {
  return Object.prototype.hasOwnProperty.call(sources, name);
}

/** The options `load(name, opts)` accepts, e.g. to tell whether a dataset can be verified. */
export function datasetOptionKeys(name: DatasetName): string[] {
  return [...sources[name].options, 'trainLimit', 'testLimit'];
}

/** The first `limit` images of a split (memory: copied, so the full arrays can be freed; file: a shorter view), or all of it. */
function head(split: RawSplit, limit: number | undefined, imageBytes: number): RawSplit {
  if (limit === undefined || limit >= split.labels.length) return split;
  const images = split.images instanceof Uint8Array ? split.images.slice(0, limit * imageBytes) : split.images.head(limit);
  return { images, labels: split.labels.slice(0, limit), coarseLabels: split.coarseLabels?.slice(0, limit) };
}

/**
 * Loads a dataset's train and test splits (and STL-10's unlabeled images when asked for). All
 * are standardized with the (limited) train split's channel statistics.
 * @throws ConfigError for an unknown name or option, DataError for missing or bad files
 */
export function load<N extends DatasetName>(name: N, opts?: DatasetOptions[N]): Promise<DatasetSplits>;
/** Loads a dataset named by a string (e.g. from the command line); see the typed overload. */
export function load(name: string, opts?: Record<string, unknown>): Promise<DatasetSplits>;
export async function load(name: string, opts: Record<string, unknown> = {}): Promise<DatasetSplits> {
  check(isDatasetName(name), `unknown dataset '${name}'; valid names: ${datasetNames.join(', ')}`);
  const source = sources[name] as Source<unknown>;
  const known = datasetOptionKeys(name);
  for (const key of Object.keys(opts)) check(known.includes(key), `unknown option '${key}' for dataset '${name}'; valid options: ${known.join(', ')}`);
  const { trainLimit, testLimit } = opts as LoadOptions;
  for (const [key, v] of [['trainLimit', trainLimit], ['testLimit', testLimit]] as const) {
    check(v === undefined || (Number.isInteger(v) && v > 0), `${key} must be a positive integer, got ${v}`);
  }
  const raw = await source.read(opts);
  const imageBytes = raw.shape[0] * raw.shape[1] * raw.shape[2];
  const train = head(raw.train, trainLimit, imageBytes);
  const test = head(raw.test, testLimit, imageBytes);
  const stats = channelStats(train.images, raw.shape);
  const dataset = (split: string, r: RawSplit) => new Dataset(`${name}/${split}`, r.images, r.labels, raw.shape, raw.classNames, stats);
  const coarse = raw.coarseClassNames && train.coarseLabels && test.coarseLabels
    ? { classNames: raw.coarseClassNames, train: train.coarseLabels, test: test.coarseLabels } : undefined;
  const splits: DatasetSplits = { name, train: dataset('train', train), test: dataset('test', test), classNames: raw.classNames, source: raw.source };
  if (raw.unlabeled) splits.unlabeled = dataset('unlabeled', raw.unlabeled);
  if (raw.classIds) splits.classIds = raw.classIds;
  if (coarse) splits.coarse = coarse;
  if (raw.officialCounts) splits.officialCounts = raw.officialCounts;
  if (raw.caches) splits.caches = raw.caches;
  return splits;
}

/**
 * Where a dataset is, without training on it: the folder (or package) its files are read from.
 * Image folders are only found, not decoded; the other datasets are read (their first image).
 * @throws DataError naming the places looked in and where to get the dataset, when it is missing or damaged
 */
export async function locate(name: string, opts: Record<string, unknown> = {}): Promise<string> {
  check(isDatasetName(name), `unknown dataset '${name}'; valid names: ${datasetNames.join(', ')}`);
  const source = sources[name] as Source<unknown>;
  if (source.locate) return source.locate(opts);
  return (await load(name, { ...opts, trainLimit: 1, testLimit: 1 })).source;
}
