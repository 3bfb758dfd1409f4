/**
 * CIFAR-10 and CIFAR-100, binary versions (`cifar-10-binary.tar.gz`, `cifar-100-binary.tar.gz`).
 * Files of fixed-size records, no header: CIFAR-10 `<label><3072 pixels>` (3073 B), CIFAR-100
 * `<coarse label><fine label><3072 pixels>` (3074 B). Pixels are 3 planes (R, G, B) of 32×32,
 * each row-major: px(y, x, c) = record[labelBytes + c·1024 + y·32 + x].
 *
 * The python versions (pickled numpy arrays) are recognized and refused with the way out: the
 * binary version from the same page holds the same images in the same order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { readNames } from './files';
import type { LoadOptions, RawSplit, RawSplits } from './load';
import { datasetDirs, findDatasetDir, isFile } from './locate';
import { forEachRecord, type PlanarLayout, planarToHwc, recordCount } from './records';

const PAGE = 'https://www.cs.toronto.edu/~kriz/cifar.html';
const LAYOUT: PlanarLayout = { height: 32, width: 32, channels: 3, order: 'row-major' };
const PIXELS = 32 * 32 * 3;
/** Records converted per read: 8192 × 3 KB = 25 MB. */
const CHUNK_RECORDS = 8192;

/** What differs between the two CIFARs. */
interface CifarVariant {
  name: 'cifar10' | 'cifar100';
  /** The archive's top folder. */
  folder: string;
  /** The top folder of the python version, recognized to say so. */
  pythonFolder: string;
  archive: string;
  /** Label bytes before the pixels: [label] or [coarse, fine]. */
  labelClasses: number[];
  train: string[];
  test: string[];
  /** Names file of the (fine) classes. */
  names: string;
  /** Files that only the python version has. */
  pythonFiles: string[];
  official: { train: number; test: number };
}

const CIFAR10: CifarVariant = {
  name: 'cifar10', folder: 'cifar-10-batches-bin', pythonFolder: 'cifar-10-batches-py', archive: 'cifar-10-binary.tar.gz',
  labelClasses: [10], train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'], names: 'batches.meta.txt',
  pythonFiles: ['data_batch_1', 'batches.meta'], official: { train: 50_000, test: 10_000 },
};

const CIFAR100: CifarVariant = {
  name: 'cifar100', folder: 'cifar-100-binary', pythonFolder: 'cifar-100-python', archive: 'cifar-100-binary.tar.gz',
  labelClasses: [20, 100], train: ['train.bin'], test: ['test.bin'], names: 'fine_label_names.txt',
  pythonFiles: ['train', 'meta'], official: { train: 50_000, test: 10_000 },
};

function fixFor(v: CifarVariant): string {
  return `get the binary version ${v.archive} from ${PAGE} and unpack it (tar xzf ${v.archive}) into data/ or $MAGMA_LAB_DATA, or pass {dir} pointing at ${v.folder}/`;
}

/** A DataError for a folder that holds another CIFAR archive than `v`'s binary one. */
function diagnose(v: CifarVariant, dir: string): DataError | undefined {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (v.pythonFiles.some(has) && !has(v.train[0])) {
    return new DataError(dir, `this is the python version of ${v.name === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} (found ${v.pythonFiles.filter(has).join(', ')}, pickled numpy arrays), which is not read; expected ${v.train[0]}`,
      `get the binary version ${v.archive} from the same page (${PAGE}); it has the same images in the same order`);
  }
  const other = v === CIFAR10 ? CIFAR100 : CIFAR10;
  if (has(other.train[0])) {
    return new DataError(dir, `this is ${other.name === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} (found ${other.train[0]}), expected ${v.train[0]}`, `load it with load('${other.name}'), or point {dir} at ${v.folder}/`);
  }
  return undefined;
}

/**
 * Reads the record files of one split, in order, into N×32×32×3 images and labels.
 * @throws DataError when a file is missing, not a whole number of records, or has a label out of range
 */
function readSplit(v: CifarVariant, dir: string, files: string[], fix: string): RawSplit {
  const labelBytes = v.labelClasses.length;
  const recordBytes = labelBytes + PIXELS;
  const paths = files.map((f) => path.join(dir, f));
  const counts = paths.map((p) => recordCount(p, recordBytes, `${v.name} records (${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${PIXELS} pixel bytes)`, fix));
  const mismatch = counts.findIndex((c) => c !== counts[0]);
  if (mismatch >= 0) {
    throw new DataError(paths[mismatch], `expected ${counts[0]} records like ${files[0]} (every batch file has the same count; 10000 in the official release), found ${counts[mismatch]}`, fix);
  }
  const n = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(n * PIXELS);
  const fine = new Int32Array(n);
  const coarse = labelBytes === 2 ? new Int32Array(n) : undefined;
  let base = 0;
  paths.forEach((file, f) => {
    forEachRecord(file, recordBytes, CHUNK_RECORDS, (record, r) => {
      v.labelClasses.forEach((classes, b) => {
        if (record[b] >= classes) {
          const which = labelBytes === 2 ? `${b === 0 ? 'coarse' : 'fine'} label` : 'label';
          throw new DataError(file, `${which} out of range: expected 0..${classes - 1}, found ${record[b]} in record ${r} (byte ${r * recordBytes + b})`, fix);
        }
      });
      const i = base + r;
      fine[i] = record[labelBytes - 1];
      if (coarse) coarse[i] = record[0];
      planarToHwc(record.subarray(labelBytes), images.subarray(i * PIXELS, (i + 1) * PIXELS), LAYOUT);
    }, fix);
    base += counts[f];
  });
  return { images, labels: fine, coarseLabels: coarse };
}

/** Reads CIFAR-10 or CIFAR-100 from the first folder that holds it. */
function readCifar(v: CifarVariant, opts: LoadOptions): RawSplits {
  const fix = fixFor(v);
  const dir = findDatasetDir(datasetDirs([v.folder, v.pythonFolder], opts.dir), {
    name: v.name,
    holds: (d) => [...v.train, ...v.test].some((f) => isFile(path.join(d, f))),
    expected: `${[...v.train, ...v.test].join(', ')} (the binary version, ${v.archive})`,
    fix,
    diagnose: (d) => diagnose(v, d),
  });
  const classNames = readNames(path.join(dir, v.names), v.labelClasses[v.labelClasses.length - 1], fix);
  const train = readSplit(v, dir, v.train, fix);
  const test = readSplit(v, dir, v.test, fix);
  const coarseClassNames = v === CIFAR100 ? readNames(path.join(dir, 'coarse_label_names.txt'), 20, fix) : undefined;
  return { shape: [32, 32, 3], classNames, coarseClassNames, train, test, officialCounts: v.official, source: dir };
}

/** Reads CIFAR-10 (binary version): 50000 train / 10000 test 32×32×3 images, 10 classes. */
export function readCifar10(opts: LoadOptions): RawSplits {
  return readCifar(CIFAR10, opts);
}

/** Reads CIFAR-100 (binary version): fine labels (100 classes) as labels, the 20 coarse ones as metadata. */
export function readCifar100(opts: LoadOptions): RawSplits {
  return readCifar(CIFAR100, opts);
}
