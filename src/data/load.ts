/**
 * `load(name, opts)`: the registry of datasets. Each dataset has a reader in its own module that
 * returns raw uint8 arrays ({@link RawSplits}); this file checks the options, applies the limits
 * and standardizes both splits with the train split's statistics.
 *
 * To add a dataset: write a reader returning {@link RawSplits}, add its options to
 * {@link DatasetOptions} and an entry to `sources`.
 */
import { check } from '../config';
import { Dataset, DatasetSplits, channelStats } from './dataset';
import { FashionMnistOptions, readFashionMnist, readMnist } from './mnist';
import { SyntheticOptions, synthetic } from './synthetic';

/** One split as read: N×H×W×C uint8 images (HWC, row-major) and N labels. */
export interface RawSplit {
  images: Uint8Array;
  labels: Int32Array;
}

/** What a dataset reader returns, before limits and statistics. */
export interface RawSplits {
  /** [H, W, C] of one image. */
  shape: [number, number, number];
  classNames: string[];
  train: RawSplit;
  test: RawSplit;
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
}

/** A dataset's name. */
export type DatasetName = keyof DatasetOptions;

interface Source<O> {
  /** Option keys, besides `trainLimit` and `testLimit`. */
  options: string[];
  read(opts: O): RawSplits | Promise<RawSplits>;
}

const sources: { [N in DatasetName]: Source<DatasetOptions[N]> } = {
  'fashion-mnist': { options: ['dir', 'verify'], read: readFashionMnist },
  mnist: { options: ['dir'], read: readMnist },
  synthetic: { options: ['seed', 'size', 'channels', 'trainSize', 'testSize', 'classes'], read: synthetic },
};

/** The names {@link load} accepts. */
export const datasetNames = Object.keys(sources) as DatasetName[];

/** Whether `name` is a dataset {@link load} knows. */
export function isDatasetName(name: string): name is DatasetName {
  return Object.prototype.hasOwnProperty.call(sources, name);
}

/** The first `limit` images of a split (copied, so the full arrays can be freed), or all of it. */
function head(split: RawSplit, limit: number | undefined, imageBytes: number): RawSplit {
  if (limit === undefined || limit >= split.labels.length) return split;
  return { images: split.images.slice(0, limit * imageBytes), labels: split.labels.slice(0, limit) };
}

/**
 * Loads a dataset's train and test splits. Both are standardized with the (limited) train
 * split's channel statistics.
 * @throws ConfigError for an unknown name or option, DataError for missing or bad files
 */
export function load<N extends DatasetName>(name: N, opts?: DatasetOptions[N]): Promise<DatasetSplits>;
/** Loads a dataset named by a string (e.g. from the command line); see the typed overload. */
export function load(name: string, opts?: Record<string, unknown>): Promise<DatasetSplits>;
export async function load(name: string, opts: Record<string, unknown> = {}): Promise<DatasetSplits> {
  check(isDatasetName(name), `unknown dataset '${name}'; valid names: ${datasetNames.join(', ')}`);
  const source = sources[name] as Source<unknown>;
  const known = [...source.options, 'trainLimit', 'testLimit'];
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
  return {
    name,
    train: new Dataset(`${name}/train`, train.images, train.labels, raw.shape, raw.classNames, stats),
    test: new Dataset(`${name}/test`, test.images, test.labels, raw.shape, raw.classNames, stats),
    classNames: raw.classNames,
    source: raw.source,
  };
}
