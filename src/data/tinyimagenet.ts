/**
 * Tiny-ImageNet-200 (`tiny-imagenet-200.zip`): 200 classes of 64×64 JPEGs (some grayscale,
 * expanded to RGB).
 *
 *   wnids.txt                          the 200 WordNet ids; label order = sorted ids (ImageFolder's)
 *   words.txt                          `wnid<TAB>names` for ~82k ids: the first name is the class name
 *   train/<wnid>/images/*.JPEG         500 per class
 *   val/images/val_<k>.JPEG            10,000, one flat folder, labelled by
 *   val/val_annotations.txt            `val_<k>.JPEG<TAB>wnid<TAB>box`: the test split here (papers evaluate on val)
 *   test/                              no labels: not read
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { readLines } from './files';
import { checkDecodedOptions, decodeSplit, type DecodedOptions, type ImageList, listClassFolders } from './imagefolder';
import type { RawSplits } from './load';
import { datasetDirs, findDatasetDir, isFile } from './locate';

const FOLDER = 'tiny-imagenet-200';
const FIX = `get tiny-imagenet-200.zip (http://cs231n.stanford.edu/tiny-imagenet-200.zip) and unzip it into data/ or $MAGMA_LAB_DATA, or pass {dir} pointing at ${FOLDER}/`;

/** Class names: the first name of each wnid in words.txt (the wnid itself when it has no entry). */
function classNames(file: string, wnids: string[]): string[] {
  const names = new Map<string, string>();
  for (const line of readLines(file, FIX)) {
    const [id, words = ''] = line.split('\t');
    names.set(id, words.split(',')[0].trim());
  }
  return wnids.map((id) => names.get(id) || id);
}

/** The val images and labels from val_annotations.txt, in the file's order. */
function listVal(dir: string, wnids: string[]): ImageList {
  const file = path.join(dir, 'val', 'val_annotations.txt');
  const label = new Map(wnids.map((id, i) => [id, i]));
  const files: string[] = [];
  const labels: number[] = [];
  readLines(file, FIX).forEach((line, i) => {
    const [image, wnid] = line.split('\t');
    const l = label.get(wnid);
    if (!image || l === undefined) throw new DataError(file, `line ${i + 1}: expected 'val_<k>.JPEG<TAB><one of the wnids.txt ids><TAB>box', found '${line}'`, FIX);
    files.push(path.join(dir, 'val', 'images', image));
    labels.push(l);
  });
  if (files.length === 0) throw new DataError(file, 'no annotations: expected one line per val image', FIX);
  return { files, labels: Int32Array.from(labels) };
}

/** The first folder that holds Tiny-ImageNet, found without reading images. */
export function tinyImagenetDir(opts: Pick<DecodedOptions, 'dir'>): string {
  return findDatasetDir(datasetDirs([FOLDER], opts.dir), {
    name: 'tiny-imagenet',
    holds: (d) => isFile(path.join(d, 'wnids.txt')),
    expected: 'wnids.txt, words.txt, train/<wnid>/images/, val/images/, val/val_annotations.txt (tiny-imagenet-200.zip unpacked)',
    fix: FIX,
    diagnose: (d) => (fs.existsSync(path.join(d, FOLDER)) ? new DataError(d, `holds ${FOLDER}/ instead of its contents`, `pass {dir: '${path.join(d, FOLDER)}'}`) : undefined),
  });
}

/** Reads Tiny-ImageNet from the first folder that holds it: train 100,000 and val (as test) 10,000 images, decoded to `size` (default 64). */
export async function readTinyImagenet(opts: DecodedOptions): Promise<RawSplits> {
  checkDecodedOptions('tiny-imagenet', opts);
  const size = opts.size ?? 64;
  const dir = tinyImagenetDir(opts);
  const wnids = [...new Set(readLines(path.join(dir, 'wnids.txt'), FIX))].sort();
  const names = classNames(path.join(dir, 'words.txt'), wnids);
  const splits = { train: listClassFolders(path.join(dir, 'train'), wnids, FIX, 'images'), test: listVal(dir, wnids) };
  const train = await decodeSplit({ dataset: 'tiny-imagenet', split: 'train', root: path.join(dir, 'train'), list: splits.train, size, fix: FIX }, opts);
  const test = await decodeSplit({ dataset: 'tiny-imagenet', split: 'test', root: path.join(dir, 'val'), list: splits.test, size, fix: FIX }, opts);
  return {
    shape: [size, size, 3], classNames: names, classIds: wnids, train: train.split, test: test.split,
    caches: [train.cache, test.cache].flatMap((c) => (c ? [c] : [])),
    officialCounts: { train: 100_000, test: 10_000 }, source: dir,
  };
}
