/**
 * The paper's datasets read from miniature copies in their official layouts, written here from
 * known pixel values: CIFAR-10/100 and STL-10 records, Tiny-ImageNet and ImageNet-100 folders of
 * real JPEG/PNG files (encoded with sharp). Also the decode cache, file-backed storage, the
 * errors for wrong, truncated and missing files, and `magma-lab data`.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { trainOptions } from '../src/cli/train';
import { ConfigError } from '../src/config';
import { DataError, Dataset, FileStorage, channelStats, datasetNames, decodeImage, imagenet100Wnids, load } from '../src/data';
import { decodeFiles } from '../src/data/decode';
import { pixelFeatures } from '../src/eval/rawPixels';
import {
  blockImage, CIFAR10_NAMES, CIFAR100_COARSE, CIFAR100_FINE, expectedImage, planarImage, writeCifar10, writeCifar100, writeImage, writeImagenet100, writeStl10,
} from './fixtures/archives';
import { tempDir } from './helpers';

const tmp = tempDir('magma-datasets-');
let dirCount = 0;
/** A new empty folder under the test's temp folder. */
function freshDir(name: string): string {
  const dir = path.join(tmp, `${dirCount++}`, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A copy of the dataset folder `dir` (same folder name, new place), changed by `edit`. */
function brokenCopy(dir: string, edit: (copy: string) => void = () => {}): string {
  const copy = freshDir(path.basename(dir));
  fs.cpSync(dir, copy, { recursive: true });
  edit(copy);
  return copy;
}

/** Asserts that `fn` rejects with an error of `type` whose message matches every pattern. */
async function assertRejects(p: Promise<unknown>, type: new (...args: never[]) => Error, ...what: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${String(e)}`);
    for (const w of what) assert.match(e.message, w);
    if (e instanceof DataError) assert.match(e.message, /\nFix: /);
    return true;
  });
}

/** Runs `fn` with $MAGMA_LAB_DATA set to `root`, restoring it afterwards. */
async function withDataRoot<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.MAGMA_LAB_DATA;
  process.env.MAGMA_LAB_DATA = root;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.MAGMA_LAB_DATA;
    else process.env.MAGMA_LAB_DATA = saved;
  }
}

/** Asserts that images first.. of `ds` are images `ids` of `value`. */
function assertImages(ds: Dataset, ids: number[], size: number): void {
  ids.forEach((id, i) => assert.deepEqual(ds.image(i), expectedImage(id, size), `${ds.name} image ${i}`));
}

describe('CIFAR-10 (binary version)', () => {
  let root: string;
  let dir: string;
  before(() => {
    root = freshDir('root');
    dir = path.join(root, 'cifar-10-batches-bin');
    fs.mkdirSync(dir);
    writeCifar10(dir);
  });

  it('reads every pixel (planar CHW → HWC) and label, from $MAGMA_LAB_DATA/cifar-10-batches-bin', async () => {
    const d = await withDataRoot(root, () => load('cifar10'));
    assert.equal(d.source, dir);
    assert.deepEqual(d.train.shape, [32, 32, 3]);
    assert.equal(d.train.size, 15);
    assert.equal(d.test.size, 3);
    assertImages(d.train, Array.from({ length: 15 }, (_, i) => i), 32);
    assertImages(d.test, [15, 16, 17], 32);
    assert.deepEqual(Array.from(d.train.labels), Array.from({ length: 15 }, (_, i) => (3 * i + 1) % 10));
    assert.deepEqual(Array.from(d.test.labels), [6, 9, 2]);
    assert.deepEqual(d.classNames, CIFAR10_NAMES);
    assert.deepEqual(d.officialCounts, { train: 50000, test: 10000 });
    assert.ok(d.train.inMemory);
  });

  it('recognizes the python version and says which archive to get (given as dir, or found by name)', async () => {
    const py = freshDir('cifar-10-batches-py');
    for (const f of ['data_batch_1', 'data_batch_2', 'test_batch', 'batches.meta', 'readme.html']) fs.writeFileSync(path.join(py, f), 'pickle');
    await assertRejects(load('cifar10', { dir: py }), DataError, new RegExp(`^${py}: this is the python version`), /get the binary version cifar-10-binary.tar.gz from the same page/);
    await assertRejects(withDataRoot(path.dirname(py), () => load('cifar10')), DataError, /python version/);
  });

  it('names a folder of the other CIFAR', async () => {
    const other = freshDir('cifar-100-binary');
    fs.writeFileSync(path.join(other, 'train.bin'), '');
    await assertRejects(load('cifar10', { dir: other }), DataError, /this is CIFAR-100 \(found train.bin\)/, /load\('cifar100'\)/);
  });

  describe('broken copies', () => {
    const broken = (edit: (d: string) => void) => brokenCopy(dir, edit);

    it('a truncated file', async () => {
      const d = broken((b) => fs.truncateSync(path.join(b, 'data_batch_3.bin'), 3 * 3073 - 100));
      await assertRejects(load('cifar10', { dir: d }), DataError, /data_batch_3.bin: truncated or not this format: expected a whole number of 3073-byte .* found 9119 bytes \(2 records \+ 2973 bytes\)/);
    });

    it('a file cut at a record boundary (fewer records than the other batches)', async () => {
      const d = broken((b) => fs.truncateSync(path.join(b, 'data_batch_2.bin'), 2 * 3073));
      await assertRejects(load('cifar10', { dir: d }), DataError, /data_batch_2.bin: expected 3 records like data_batch_1.bin .*found 2/);
    });

    it('a label out of range', async () => {
      const d = broken((b) => {
        const f = path.join(b, 'test_batch.bin');
        const bytes = fs.readFileSync(f);
        bytes[3073] = 10;
        fs.writeFileSync(f, bytes);
      });
      await assertRejects(load('cifar10', { dir: d }), DataError, /test_batch.bin: label out of range: expected 0..9, found 10 in record 1 \(byte 3073\)/);
    });

    it('a missing file', async () => {
      const d = broken((b) => fs.rmSync(path.join(b, 'test_batch.bin')));
      await assertRejects(load('cifar10', { dir: d }), DataError, /test_batch.bin: file not found/, /cifar-10-binary.tar.gz/);
    });

    it('no dataset at all: lists where it looked', async () => {
      const empty = freshDir('empty');
      await assertRejects(withDataRoot(empty, () => load('cifar10')), DataError, /dataset not found: expected data_batch_1.bin/, new RegExp(path.join(empty, 'cifar-10-batches-bin')), /data\/cifar-10-batches-bin/);
    });
  });
});

describe('CIFAR-100 (binary version)', () => {
  const fine = CIFAR100_FINE;
  const coarse = CIFAR100_COARSE;
  let dir: string;
  before(() => {
    dir = freshDir('cifar-100-binary');
    writeCifar100(dir, [0, 1, 2, 3], [4, 5]);
  });

  it('reads pixels, fine labels as labels, coarse labels as metadata', async () => {
    const d = await load('cifar100', { dir });
    assertImages(d.train, [0, 1, 2, 3], 32);
    assertImages(d.test, [4, 5], 32);
    assert.deepEqual(Array.from(d.train.labels), [0, 7, 14, 21]);
    assert.deepEqual(Array.from(d.test.labels), [28, 35]);
    assert.deepEqual(d.classNames, fine);
    assert.deepEqual(d.coarse?.classNames, coarse);
    assert.deepEqual(Array.from(d.coarse!.train), [0, 1, 2, 3]);
    assert.deepEqual(Array.from(d.coarse!.test), [4, 5]);
    const limited = await load('cifar100', { dir, trainLimit: 2 });
    assert.deepEqual(Array.from(limited.coarse!.train), [0, 1]);
  });

  it('recognizes the python version', async () => {
    const py = freshDir('cifar-100-python');
    for (const f of ['train', 'test', 'meta']) fs.writeFileSync(path.join(py, f), 'pickle');
    await assertRejects(load('cifar100', { dir: py }), DataError, /python version of CIFAR-100.*found train, meta/, /cifar-100-binary.tar.gz from the same page/);
  });

  it('a coarse label out of range, and a names file with the wrong count', async () => {
    const d = brokenCopy(dir, (b) => fs.writeFileSync(path.join(b, 'fine_label_names.txt'), 'apple\n'));
    await assertRejects(load('cifar100', { dir: d }), DataError, /fine_label_names.txt: expected 100 names, one per line, found 1/);
    fs.cpSync(dir, d, { recursive: true });
    const bytes = fs.readFileSync(path.join(d, 'train.bin'));
    bytes[3074] = 20;
    fs.writeFileSync(path.join(d, 'train.bin'), bytes);
    await assertRejects(load('cifar100', { dir: d }), DataError, /train.bin: coarse label out of range: expected 0..19, found 20 in record 1/);
  });
});

describe('STL-10 (binary version)', () => {
  const IMAGE = 96 * 96 * 3;
  let dir: string;
  before(() => {
    dir = freshDir('stl10_binary');
    writeStl10(dir, { train: { ids: [0, 1, 2, 3, 4], labels: [1, 10, 3, 4, 5] }, test: { ids: [5, 6, 7], labels: [2, 2, 9] }, unlabeled: [8, 9, 10, 11] });
  });

  it('transposes the column-major planes: every pixel, across chunk boundaries of every size', async () => {
    const reference = await load('stl10', { dir, unlabeled: true });
    assertImages(reference.train, [0, 1, 2, 3, 4], 96);
    assertImages(reference.test, [5, 6, 7], 96);
    assertImages(reference.unlabeled!, [8, 9, 10, 11], 96);
    assert.deepEqual(Array.from(reference.train.labels), [0, 9, 2, 3, 4]);
    assert.deepEqual(Array.from(reference.test.labels), [1, 1, 8]);
    assert.deepEqual(Array.from(reference.unlabeled!.labels), [-1, -1, -1, -1]);
    assert.equal(reference.classNames[7], 'monkey');
    assert.deepEqual(reference.unlabeled!.stats, reference.train.stats);
    // The transpose matters: the file's bytes in row-major order are other values.
    assert.notDeepEqual(reference.train.image(0), new Uint8Array(planarImage(0, 96, 'row-major')));
    for (const chunkImages of [1, 2, 3]) {
      const d = await load('stl10', { dir, unlabeled: true, chunkImages });
      assert.deepEqual(d.train.images, reference.train.images, `chunks of ${chunkImages}`);
      assert.deepEqual(d.unlabeled!.images, reference.unlabeled!.images, `chunks of ${chunkImages}`);
    }
  });

  it('reads unlabeled_X.bin only when asked for', async () => {
    const d = await load('stl10', { dir });
    assert.equal(d.unlabeled, undefined);
    assert.equal(d.train.size, 5);
  });

  it('verify: true compares md5s with the published files', async () => {
    await assertRejects(load('stl10', { dir, verify: true }), DataError, /train_X.bin: md5 mismatch: expected 918c2871b30a85fa023e0c44e0bee87f/);
  });

  it('labels that do not match the images, out of range, and a truncated image file', async () => {
    const d = brokenCopy(dir, (b) => fs.writeFileSync(path.join(b, 'test_y.bin'), Buffer.from([1, 2])));
    await assertRejects(load('stl10', { dir: d }), DataError, /test_y.bin: expected 3 labels, one byte per image of test_X.bin, found 2 bytes/);
    fs.writeFileSync(path.join(d, 'test_y.bin'), Buffer.from([1, 0, 2]));
    await assertRejects(load('stl10', { dir: d }), DataError, /test_y.bin: label out of range: expected 1..10, found 0 at byte 1/);
    fs.truncateSync(path.join(d, 'train_X.bin'), 2 * IMAGE + 5);
    await assertRejects(load('stl10', { dir: d }), DataError, /train_X.bin: truncated .*27648-byte STL-10 images/);
  });

  it('rejects a bad chunk size and options of other datasets', async () => {
    await assertRejects(load('stl10', { dir, chunkImages: 0 }), ConfigError, /chunkImages must be a positive integer/);
    await assertRejects(load('stl10', { dir, size: 64 } as object), ConfigError, /unknown option 'size' for dataset 'stl10'/);
  });
});

/**
 * Asserts |decoded − source| ≤ 2 per value. Flat 8×8 blocks at quality 100 lose nothing to
 * quantization; what is left is the rounding of the RGB → YCbCr → RGB round trip (≤ 1 per
 * conversion), so 2 bounds it; a transposed, shifted or wrongly cropped image is off by tens.
 */
function assertCloseImage(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) if (Math.abs(actual[i] - expected[i]) > 2) assert.fail(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]} ± 2`);
}

/** Gray (1 channel) → the RGB image the loader must produce. */
const toRgb = (gray: Buffer) => Uint8Array.from({ length: gray.length * 3 }, (_, i) => gray[Math.floor(i / 3)]);

describe('Tiny-ImageNet', function () {
  this.timeout(60_000);
  // wnids.txt lists n02… first: labels must follow the sorted ids.
  const ids = ['n02000002', 'n01000001'];
  let dir: string;
  let cache: string;
  /** The expected RGB image of each train file, in dataset order (class n01 first). */
  const train: Uint8Array[] = [];
  const val: { image: Uint8Array; label: number }[] = [];

  before(async () => {
    dir = freshDir('tiny-imagenet-200');
    cache = freshDir('cache');
    fs.writeFileSync(path.join(dir, 'wnids.txt'), `${ids.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'words.txt'), 'n00000009\tentity\nn01000001\tgoldfish, Carassius auratus\nn02000002\ttabby, tabby cat\n');
    const cls = (id: string) => path.join(dir, 'train', id, 'images');
    // n01000001: two RGB JPEGs and a grayscale one; n02000002: a JPEG and a PNG named .JPEG (as ImageNet has).
    for (const k of [0, 1]) {
      await writeImage(path.join(cls('n01000001'), `n01000001_${k}.JPEG`), blockImage(64, k), 64, 'jpeg');
      train.push(new Uint8Array(blockImage(64, k)));
    }
    const gray = blockImage(64, 2, 1);
    await writeImage(path.join(cls('n01000001'), 'n01000001_2.JPEG'), gray, 64, 'jpeg', 1);
    train.push(toRgb(gray));
    await writeImage(path.join(cls('n02000002'), 'n02000002_0.JPEG'), blockImage(64, 3), 64, 'jpeg');
    await writeImage(path.join(cls('n02000002'), 'n02000002_1.JPEG'), blockImage(64, 4), 64, 'png');
    train.push(new Uint8Array(blockImage(64, 3)), new Uint8Array(blockImage(64, 4)));
    fs.writeFileSync(path.join(dir, 'train', 'n02000002', 'n02000002_boxes.txt'), 'n02000002_0.JPEG\t0\t0\t10\t10\n');
    const annotations: string[] = [];
    for (const [k, label] of [1, 0, 1].entries()) {
      await writeImage(path.join(dir, 'val', 'images', `val_${k}.JPEG`), blockImage(64, 10 + k), 64, 'jpeg');
      annotations.push(`val_${k}.JPEG\t${['n01000001', 'n02000002'][label]}\t0\t0\t63\t63`);
      val.push({ image: blockImage(64, 10 + k), label });
    }
    fs.writeFileSync(path.join(dir, 'val', 'val_annotations.txt'), `${annotations.join('\n')}\n`);
    await writeImage(path.join(dir, 'test', 'images', 'test_0.JPEG'), blockImage(64, 20), 64, 'jpeg');
  });

  const opts = () => ({ dir, cache, progress: false });

  it('decodes train folders and val from val_annotations.txt; labels follow sorted wnids; gray becomes RGB', async () => {
    const d = await load('tiny-imagenet', opts());
    assert.deepEqual(d.classIds, ['n01000001', 'n02000002']);
    assert.deepEqual(d.classNames, ['goldfish', 'tabby']);
    assert.deepEqual(d.train.shape, [64, 64, 3]);
    assert.deepEqual(Array.from(d.train.labels), [0, 0, 0, 1, 1]);
    train.forEach((img, i) => assertCloseImage(d.train.image(i), img, `train image ${i}`));
    assert.deepEqual(d.train.image(4), train[4], 'the PNG is exact');
    const grayImage = d.train.image(2);
    for (let p = 0; p < grayImage.length; p += 3) assert.ok(grayImage[p] === grayImage[p + 1] && grayImage[p] === grayImage[p + 2], 'gray pixels have R = G = B');
    assert.deepEqual(Array.from(d.test.labels), val.map((v) => v.label));
    val.forEach((v, i) => assertCloseImage(d.test.image(i), v.image, `val image ${i}`));
    assert.deepEqual(d.officialCounts, { train: 100000, test: 10000 });
  });

  it('caches the decoded images: written, then read back identical; rebuilt when the source changes', async () => {
    const c = freshDir('cache');
    const first = await load('tiny-imagenet', { ...opts(), cache: c });
    assert.deepEqual(first.caches?.map((r) => [r.split, r.status]), [['train', 'written'], ['test', 'written']]);
    assert.deepEqual(fs.readdirSync(c).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
    const second = await load('tiny-imagenet', { ...opts(), cache: c });
    assert.deepEqual(second.caches?.map((r) => r.status), ['hit', 'hit']);
    assert.deepEqual(second.train.images, first.train.images);
    assert.deepEqual(second.test.images, first.test.images);

    // Another size is another cache.
    const small = await load('tiny-imagenet', { ...opts(), cache: c, size: 32 });
    assert.deepEqual(small.caches?.map((r) => r.status), ['written', 'written']);
    assert.deepEqual(small.train.shape, [32, 32, 3]);

    // A changed file (same name and size, new content and mtime) rebuilds the train cache only.
    const file = path.join(dir, 'train', 'n02000002', 'images', 'n02000002_1.JPEG');
    const saved = fs.readFileSync(file);
    try {
      await writeImage(file, blockImage(64, 5), 64, 'png');
      fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
      const changed = await load('tiny-imagenet', { ...opts(), cache: c });
      assert.deepEqual(changed.caches?.map((r) => r.status), ['written', 'hit']);
      assert.deepEqual(changed.train.image(4), new Uint8Array(blockImage(64, 5)));
      // One more file: rebuilt again, with the new image in its sorted place.
      await writeImage(path.join(dir, 'train', 'n01000001', 'images', 'n01000001_3.JPEG'), blockImage(64, 6), 64, 'png');
      const added = await load('tiny-imagenet', { ...opts(), cache: c });
      assert.deepEqual(added.caches?.map((r) => r.status), ['written', 'hit']);
      assert.equal(added.train.size, 6);
      assert.deepEqual(added.train.image(3), new Uint8Array(blockImage(64, 6)));
    } finally {
      fs.writeFileSync(file, saved);
      fs.rmSync(path.join(dir, 'train', 'n01000001', 'images', 'n01000001_3.JPEG'));
    }
    const restored = await load('tiny-imagenet', { ...opts(), cache: c });
    assert.deepEqual(restored.caches?.map((r) => r.status), ['written', 'hit']);
    assert.deepEqual(restored.train.images, first.train.images);

    // A cache cut short is rebuilt, not read.
    const trainCache = restored.caches![0].file;
    fs.truncateSync(trainCache, fs.statSync(trainCache).size - 1);
    const repaired = await load('tiny-imagenet', { ...opts(), cache: c });
    assert.deepEqual(repaired.caches?.map((r) => r.status), ['written', 'hit']);
    assert.deepEqual(repaired.train.images, first.train.images);
  });

  it('storage: file reads images per batch from the cache; cache: false decodes without one', async () => {
    const mem = await load('tiny-imagenet', opts());
    const file = await load('tiny-imagenet', { ...opts(), storage: 'file' });
    assert.equal(file.train.inMemory, false);
    assert.match(file.train.storage.description, /^file .*tiny-imagenet-train-64px-.*\.u8$/);
    assert.throws(() => file.train.images, /no in-memory array; use image\(i\), gather\(\) or batches\(\)/);
    for (let i = 0; i < mem.train.size; i++) assert.deepEqual(file.train.image(i), mem.train.image(i));
    assert.deepEqual(file.train.stats, mem.train.stats);
    const none = await load('tiny-imagenet', { ...opts(), cache: false });
    assert.deepEqual(none.caches, []);
    assert.deepEqual(none.train.images, mem.train.images);
    await assertRejects(load('tiny-imagenet', { ...opts(), cache: false, storage: 'file' }), ConfigError, /storage 'file' reads the images from the decode cache/);
    await assertRejects(load('tiny-imagenet', { ...opts(), size: 4 }), ConfigError, /size must be an integer from 8 to 1024, got 4/);
  });

  describe('broken copies', () => {
    const broken = (edit: (d: string) => void) => brokenCopy(dir, edit);

    it('a missing class folder', async () => {
      const d = broken((b) => fs.rmSync(path.join(b, 'train', 'n02000002'), { recursive: true }));
      await assertRejects(load('tiny-imagenet', { ...opts(), dir: d }), DataError, /train: missing 1 of the 2 class folders: n02000002/);
    });

    it('an annotation with an unknown wnid, and a missing val image', async () => {
      const d = broken((b) => fs.appendFileSync(path.join(b, 'val', 'val_annotations.txt'), 'val_9.JPEG\tn09999999\t0\t0\t1\t1\n'));
      await assertRejects(load('tiny-imagenet', { ...opts(), dir: d }), DataError, /val_annotations.txt: line 4: expected 'val_<k>.JPEG<TAB><one of the wnids.txt ids>/);
      const e = broken((b) => fs.rmSync(path.join(b, 'val', 'images', 'val_1.JPEG')));
      await assertRejects(load('tiny-imagenet', { ...opts(), dir: e }), DataError, /val_1.JPEG: image file not found/);
    });

    it('a file that is not an image: the decoding error names it', async () => {
      const d = broken((b) => fs.writeFileSync(path.join(b, 'train', 'n01000001', 'images', 'n01000001_1.JPEG'), 'not a jpeg'));
      await assertRejects(load('tiny-imagenet', { ...opts(), dir: d }), DataError, /n01000001_1.JPEG: cannot decode the image/, /Fix: replace the file/);
      const partial = fs.readdirSync(cache).filter((f) => f.includes('.tmp-'));
      assert.deepEqual(partial, [], 'the failed cache write left no file');
    });

    it('the folder that holds the unpacked folder', async () => {
      await assertRejects(load('tiny-imagenet', { ...opts(), dir: path.dirname(dir) }), DataError, /holds tiny-imagenet-200\/ instead of its contents/);
    });
  });
});

describe('ImageNet-100', function () {
  this.timeout(60_000);
  const wnids = imagenet100Wnids();
  const sorted = [...wnids].sort();
  let dir: string;
  /** Image of class w (split s): flat 16×16 blocks whose colors encode w's position in CMC's list. */
  const imageOf = (w: string, split: number) => blockImage(16, wnids.indexOf(w) * 2 + split);

  before(async () => {
    // A "full ImageNet" tree: the 100 classes plus one that is not in the list.
    dir = freshDir('imagenet');
    await writeImagenet100(dir, { perClass: 1, size: 16, wnids: [...wnids, 'n09999999'], image: (w, s) => imageOf(w, s) });
  });

  it('the committed CMC list: 100 unique wnids in CMC order (its sha256 is checked on every read)', () => {
    assert.equal(wnids.length, 100);
    assert.equal(new Set(wnids).size, 100);
    assert.equal(wnids[0], 'n02869837');
    assert.equal(wnids[99], 'n02090622');
  });

  it('keeps only the 100 classes of a full tree; labels follow the sorted wnids', async () => {
    const d = await load('imagenet100', { dir, size: 16, cache: freshDir('cache'), progress: false });
    assert.deepEqual(d.classIds, sorted);
    assert.equal(d.classNames[sorted.indexOf('n02123045')], 'tabby');
    assert.equal(d.train.size, 100);
    assert.equal(d.test.size, 100);
    assert.deepEqual(Array.from(d.train.labels), sorted.map((_, i) => i));
    sorted.forEach((w, i) => {
      assertCloseImage(d.train.image(i), imageOf(w, 0), `train ${w}`);
      assertCloseImage(d.test.image(i), imageOf(w, 1), `val ${w}`);
    });
  });

  it('a val folder in the official flat layout, and missing classes', async () => {
    const flat = freshDir('imagenet100');
    fs.cpSync(path.join(dir, 'train'), path.join(flat, 'train'), { recursive: true });
    fs.mkdirSync(path.join(flat, 'val'));
    fs.copyFileSync(path.join(dir, 'val', wnids[0], `${wnids[0]}_1.JPEG`), path.join(flat, 'val', 'ILSVRC2012_val_00000001.JPEG'));
    await assertRejects(load('imagenet100', { dir: flat, size: 16, cache: false, progress: false }), DataError, /val: holds the images directly .*sorted into <wnid> folders/, /valprep/);
    fs.rmSync(path.join(flat, 'val'), { recursive: true });
    for (const w of sorted.slice(0, 7)) fs.rmSync(path.join(flat, 'train', w), { recursive: true });
    await assertRejects(load('imagenet100', { dir: flat, size: 16, cache: false, progress: false }), DataError, new RegExp(`train: missing 7 of the 100 class folders: ${sorted.slice(0, 5).join(', ')}, … \\(2 more\\)`));
  });
});

describe('decoding', () => {
  it('resizes the shorter side and crops the center (a 40×20 image to 10×10)', async () => {
    // Columns 0–2 red, 3–36 green, 37–39 blue; the top half a darker green than the bottom.
    const w = 40;
    const h = 20;
    const pixels = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      if (x < 3) pixels[o] = 255;
      else if (x >= 37) pixels[o + 2] = 255;
      else pixels[o + 1] = y < 10 ? 100 : 200;
    }
    const file = path.join(freshDir('resize'), 'wide.png');
    await sharp(pixels, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    const out = await decodeImage(file, 10);
    assert.equal(out.length, 10 * 10 * 3);
    // Squashing the whole width in would bring red and blue in at the sides: cropping keeps only green.
    for (let p = 0; p < 100; p++) assert.ok(out[p * 3] <= 1 && out[p * 3 + 2] <= 1, `pixel ${p} is not pure green: ${out.subarray(p * 3, p * 3 + 3)}`);
    // The height is kept whole (20 → 10): the top rows are the dark green, the bottom rows the light one.
    for (let x = 0; x < 10; x++) {
      assert.ok(Math.abs(out[(0 * 10 + x) * 3 + 1] - 100) <= 1 && Math.abs(out[(9 * 10 + x) * 3 + 1] - 200) <= 1, `column ${x}`);
    }
  });

  it('decodes many files on worker threads, each image at its index', async () => {
    const folder = freshDir('many');
    const files: string[] = [];
    for (let i = 0; i < 70; i++) {
      files.push(path.join(folder, `${i}.png`));
      await sharp(Buffer.alloc(8 * 8 * 3, i), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(files[i]);
    }
    const out = new Uint8Array(70 * 8 * 8 * 3);
    const progress: number[] = [];
    await decodeFiles(files, { size: 8, workers: 2, onImages: (first, px) => out.set(px, first * 192), onProgress: (done) => progress.push(done) });
    for (let i = 0; i < 70; i++) assert.ok(out.subarray(i * 192, (i + 1) * 192).every((v) => v === i), `image ${i}`);
    assert.equal(progress.at(-1), 70);
  });
});

describe('file-backed Dataset', () => {
  // 7 images of 2×3×2 after a 5-byte header; image i is filled with 10·i + position.
  const shape: [number, number, number] = [2, 3, 2];
  const bytes = Uint8Array.from({ length: 7 * 12 }, (_, k) => 10 * Math.floor(k / 12) + (k % 12));
  let file: string;
  before(() => {
    file = path.join(freshDir('storage'), 'images.u8');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('head!'), Buffer.from(bytes)]));
  });

  it('gives the same images, batches, subsets, stats and pixel features as the in-memory one', () => {
    const labels = Int32Array.from([0, 1, 0, 1, 0, 1, 0]);
    const mem = new Dataset('mem', bytes, labels, shape, ['a', 'b']);
    const disk = new Dataset('disk', new FileStorage(file, 5, 7, 12), labels, shape, ['a', 'b']);
    assert.equal(disk.size, 7);
    assert.equal(disk.inMemory, false);
    assert.deepEqual(disk.stats, mem.stats);
    assert.deepEqual(disk.stats, channelStats(bytes, shape));
    assert.deepEqual(disk.image(3), mem.image(3));
    assert.deepEqual(disk.take(3), mem.take(3));
    assert.deepEqual(disk.gather([6, 0, 6]).images, mem.gather([6, 0, 6]).images);
    const batches = (ds: Dataset) => [...ds.batches(3, { seed: 2, epoch: 1 })].map((b) => Array.from(b.images));
    assert.deepEqual(batches(disk), batches(mem));
    const sub = disk.subset([5, 1]);
    assert.ok(sub.inMemory);
    assert.deepEqual(sub.images, mem.subset([5, 1]).images);
    assert.deepEqual(pixelFeatures(disk).features, pixelFeatures(mem).features);
    assert.throws(() => disk.gather([7]), /index 7 out of range 0..6/);
  });

  it('a file cut short after it was opened is a DataError naming it', () => {
    const short = path.join(path.dirname(file), 'short.u8');
    fs.writeFileSync(short, Buffer.from(bytes.subarray(0, 30)));
    const disk = new Dataset('disk', new FileStorage(short, 0, 7, 12), new Int32Array(7), shape, ['a'], { mean: [0, 0], std: [1, 1] });
    assert.throws(() => disk.image(6), (e: unknown) => e instanceof DataError && e.message.startsWith(`${short}: truncated while reading`));
  });
});

describe('magma-lab data', function () {
  this.timeout(120_000);
  const bin = path.join(__dirname, '..', 'bin', 'magma-lab.js');
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [bin, 'data', ...args], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('the new datasets are load() names and train --dataset choices', () => {
    for (const name of ['cifar10', 'cifar100', 'stl10', 'tiny-imagenet', 'imagenet100']) {
      assert.ok(datasetNames.includes(name as never), name);
      assert.ok(trainOptions.dataset.choices.includes(name as never), name);
    }
  });

  it('prints counts, classes, size and storage; exits 2 with the problem for a wrong archive or option', () => {
    const dir = freshDir('cifar-10-batches-bin');
    writeCifar10(dir, 2);
    const ok = cli(['cifar10', '--dir', dir, '--verify']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^cifar10: found in ${dir}\n`));
    assert.match(ok.stdout, /train\s+10 images \(the official release has 50000\), in memory/);
    assert.match(ok.stdout, /test\s+2 images/);
    assert.match(ok.stdout, /images\s+32×32×3 uint8/);
    assert.match(ok.stdout, /classes\s+10: airplane, automobile, bird/);
    assert.match(ok.stdout, /verify\s+no checksums are published/);
    const py = freshDir('cifar-10-batches-py');
    fs.writeFileSync(path.join(py, 'data_batch_1'), 'pickle');
    const wrong = cli(['cifar10', '--dir', py]);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /^error: .*this is the python version/);
    assert.match(wrong.stderr, /Fix: get the binary version cifar-10-binary.tar.gz/);
    assert.equal(cli(['cifar10', '--dir', dir, '--size', '64']).status, 2);
    assert.equal(cli(['cifar12']).status, 2);
    assert.match(cli(['--help']).stdout, /--\[no-\]verify/);
  });

  it('reports the decode cache of an image folder', () => {
    const dir = freshDir('tiny-imagenet-200');
    const make = spawnSync(process.execPath, ['-e', `
      const sharp = require('sharp'); const fs = require('fs'); const p = require('path'); const d = ${JSON.stringify(dir)};
      (async () => {
        fs.writeFileSync(p.join(d, 'wnids.txt'), 'n01\\n'); fs.writeFileSync(p.join(d, 'words.txt'), 'n01\\tthing\\n');
        fs.mkdirSync(p.join(d, 'train/n01/images'), { recursive: true }); fs.mkdirSync(p.join(d, 'val/images'), { recursive: true });
        const img = sharp(Buffer.alloc(64 * 64 * 3, 9), { raw: { width: 64, height: 64, channels: 3 } }).png();
        await img.clone().toFile(p.join(d, 'train/n01/images/a.JPEG')); await img.clone().toFile(p.join(d, 'val/images/v.JPEG'));
        fs.writeFileSync(p.join(d, 'val/val_annotations.txt'), 'v.JPEG\\tn01\\t0\\t0\\t1\\t1\\n');
      })();`], { encoding: 'utf8', cwd: path.join(__dirname, '..') });
    assert.equal(make.status, 0, make.stderr);
    const env = { ...process.env, MAGMA_LAB_DATA: path.dirname(dir) };
    const run = () => spawnSync(process.execPath, [bin, 'data', 'tiny-imagenet'], { encoding: 'utf8', env });
    const first = run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /cache\s+train: written to .*\.cache.*tiny-imagenet-train-64px/);
    assert.match(first.stderr, /decode tiny-imagenet\/train at 64px 1\/1/);
    assert.match(run().stdout, /cache\s+test: read from /);
  });
});
