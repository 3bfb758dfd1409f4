/**
 * STL-10, binary version (`stl10_binary.tar.gz`): files of 96×96×3 images with no header, each
 * image 3 planes (R, G, B) of 96×96 stored column-major (MATLAB order):
 * px(y, x, c) = record[c·9216 + x·96 + y]. Labels are one byte per image, 1..10 (stored here as
 * 0..9). The 2.76 GB unlabeled_X.bin is read a chunk of images at a time, never whole.
 */
import * as path from 'path';
import { check } from '../config';
import { DataError } from './errors';
import { checkDigest, fileSize, readNames } from './files';
import type { LoadOptions, RawSplit, RawSplits } from './load';
import { datasetDirs, findDatasetDir, isFile } from './locate';
import { forEachRecord, type PlanarLayout, planarToHwc, recordCount } from './records';

const LAYOUT: PlanarLayout = { height: 96, width: 96, channels: 3, order: 'column-major' };
const IMAGE_BYTES = 96 * 96 * 3;
const FOLDER = 'stl10_binary';
const FIX = `get stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ and unpack it (tar xzf stl10_binary.tar.gz) into data/ or $MAGMA_LAB_DATA, or pass {dir} pointing at ${FOLDER}/`;

/** md5 of the official files (the published archive's contents). */
const MD5: Record<string, string> = {
  'train_X.bin': '918c2871b30a85fa023e0c44e0bee87f',
  'train_y.bin': '5a34089d4802c674881badbb80307741',
  'test_X.bin': '7f263ba9f9e0b06b93213547f721ac82',
  'test_y.bin': '36f9794fa4beb8a2c72628de14fa638e',
  'unlabeled_X.bin': '5242ba1fed5e4be9e1e742405eb56ca4',
};

/** Options of STL-10. */
export interface Stl10Options extends LoadOptions {
  /** Also read the 100,000 unlabeled images (2.76 GB in memory) as `unlabeled`. Default false. */
  unlabeled?: boolean;
  /** Check the md5 of every file read against the published ones (reads each file once more). */
  verify?: boolean;
  /** Images per read from the image files. Default 2048 (57 MB). */
  chunkImages?: number;
}

/** N images of an `*_X.bin` file, converted to N×96×96×3. */
function readImages(file: string, chunkImages: number): Uint8Array {
  const n = recordCount(file, IMAGE_BYTES, 'STL-10 images (96×96×3, column-major planes)', FIX);
  const images = new Uint8Array(n * IMAGE_BYTES);
  forEachRecord(file, IMAGE_BYTES, chunkImages, (record, i) => planarToHwc(record, images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), LAYOUT), FIX);
  return images;
}

/** The labels of a `*_y.bin` file (1..10 on disk, 0..9 returned), one per image of `imagesFile`. */
function readLabels(file: string, count: number, imagesFile: string): Int32Array {
  const size = fileSize(file, FIX);
  if (size !== count) throw new DataError(file, `expected ${count} labels, one byte per image of ${path.basename(imagesFile)}, found ${size} bytes`, FIX);
  const labels = new Int32Array(count);
  forEachRecord(file, 1, count, (record, i) => {
    if (record[0] < 1 || record[0] > 10) throw new DataError(file, `label out of range: expected 1..10, found ${record[0]} at byte ${i}`, FIX);
    labels[i] = record[0] - 1;
  }, FIX);
  return labels;
}

/** Reads STL-10 from the first folder that holds it: train (5000) and test (8000), and unlabeled (100000) when asked for. */
export function readStl10(opts: Stl10Options): RawSplits {
  const { chunkImages = 2048 } = opts;
  check(Number.isInteger(chunkImages) && chunkImages > 0, `stl10: chunkImages must be a positive integer, got ${chunkImages}`);
  const dir = findDatasetDir(datasetDirs([FOLDER], opts.dir), {
    name: 'stl10',
    holds: (d) => ['train_X.bin', 'test_X.bin'].some((f) => isFile(path.join(d, f))),
    expected: 'train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin, class_names.txt (the binary version, stl10_binary.tar.gz)',
    fix: FIX,
  });
  const file = (name: string) => path.join(dir, name);
  const names = ['train_X.bin', 'train_y.bin', 'test_X.bin', 'test_y.bin', ...(opts.unlabeled ? ['unlabeled_X.bin'] : [])];
  if (opts.verify) for (const name of names) checkDigest(file(name), 'md5', MD5[name], FIX);
  const labeled = (prefix: string): RawSplit => {
    const images = readImages(file(`${prefix}_X.bin`), chunkImages);
    return { images, labels: readLabels(file(`${prefix}_y.bin`), images.length / IMAGE_BYTES, file(`${prefix}_X.bin`)) };
  };
  const unlabeledImages = opts.unlabeled ? readImages(file('unlabeled_X.bin'), chunkImages) : undefined;
  return {
    shape: [96, 96, 3],
    classNames: readNames(file('class_names.txt'), 10, FIX),
    train: labeled('train'),
    test: labeled('test'),
    unlabeled: unlabeledImages && { images: unlabeledImages, labels: new Int32Array(unlabeledImages.length / IMAGE_BYTES).fill(-1) },
    officialCounts: { train: 5000, test: 8000, unlabeled: 100_000 },
    source: dir,
  };
}
