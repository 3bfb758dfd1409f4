import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { strict as assert } from 'assert';
import { Dataset } from '../src/data/dataset';
import { formatMeanStd, knn, linearProbe, pairedDifference, pixelFeatures, studentCritical, studentTwoSidedP, summarize, type Features, type KnnMetric } from '../src/eval';
import { Rng } from '../src/random';

/** Features from a list of rows. */
function rows(data: number[][], labels: number[]): Features {
  return { features: Float32Array.from(data.flat()), labels: Int32Array.from(labels), dim: data[0].length };
}

/** n points around numClasses random centres (spread `spread`) with unit-variance noise. */
function blobs(rng: Rng, n: number, dim: number, numClasses: number, spread: number, centres?: number[][]): Features & { centres: number[][] } {
  const c = centres ?? Array.from({ length: numClasses }, () => Array.from({ length: dim }, () => rng.normal(0, spread)));
  const features = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(numClasses);
    for (let j = 0; j < dim; j++) features[i * dim + j] = c[labels[i]][j] + rng.normal();
  }
  return { features, labels, dim, centres: c };
}

/** Plain float64 k-NN accuracy: every distance, a full sort (score desc, then index asc), then the votes. */
function bruteForceKnn(train: Features, test: Features, k: number, metric: KnnMetric, temperature: number): number {
  const { dim } = train;
  const row = (f: Features, i: number) => Array.from(f.features.subarray(i * dim, (i + 1) * dim));
  const norm = (x: number[]) => Math.max(Math.hypot(...x), 1e-12);
  const numClasses = Math.max(...train.labels, ...test.labels) + 1;
  let correct = 0;
  for (let i = 0; i < test.labels.length; i++) {
    const x = row(test, i);
    const scored = Array.from(train.labels, (label, j) => {
      const y = row(train, j);
      if (metric === 'cosine') {
        const sim = x.reduce((s, v, d) => s + v * y[d], 0) / (norm(x) * norm(y));
        return { j, label, score: sim, weight: Math.exp(sim / temperature) };
      }
      const dist = Math.hypot(...x.map((v, d) => v - y[d]));
      return { j, label, score: -dist, weight: 1 / (dist + 1e-5) };
    });
    scored.sort((a, b) => b.score - a.score || a.j - b.j);
    const votes = new Array<number>(numClasses).fill(0);
    for (const s of scored.slice(0, k)) votes[s.label] += s.weight;
    if (votes.indexOf(Math.max(...votes)) === test.labels[i]) correct++;
  }
  return correct / test.labels.length;
}

/** Runs f and checks that it leaves no tensor behind. */
function noLeak<T>(f: () => T): T {
  const before = tf.memory().numTensors;
  const out = f();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return out;
}

describe('eval', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('knn on hand-made sets', () => {
    // Test point (1, 0) of class 0. Its nearest neighbour (1, 0) is class 0; two slightly farther
    // ones (0.8, ±0.6) are class 1: a plain majority of k = 3 says 1, the weighted votes say 0.
    const train = rows([[1, 0], [0.8, 0.6], [0.8, -0.6]], [0, 1, 1]);
    const test = rows([[1, 0]], [0]);

    it('cosine votes exp(sim / T) outweigh a plain majority', () => {
      // exp(1 / 0.07) ≈ 1.6e6 against 2·exp(0.8 / 0.07) ≈ 1.8e5.
      assert.equal(knn(train, test, { k: 3, metric: 'cosine' }).cosine?.accuracy, 1);
      // A huge temperature makes every vote ≈ 1: the majority (class 1) wins.
      assert.equal(knn(train, test, { k: 3, metric: 'cosine', temperature: 1e6 }).cosine?.accuracy, 0);
    });

    it('euclidean votes 1 / (distance + 1e-5) outweigh a plain majority', () => {
      // 1 / 1e-5 against 2 / (0.63 + 1e-5).
      assert.equal(knn(train, test, { k: 3, metric: 'euclidean' }).euclidean?.accuracy, 1);
    });

    it('cosine and euclidean can disagree', () => {
      // (10, 0) points the same way as (1, 0) but is far; (0.9, 0.3) is near but turned.
      const r = knn(rows([[10, 0], [0.9, 0.3]], [0, 1]), rows([[1, 0]], [0]), { k: 1 });
      assert.deepEqual(r, { k: 1, numTrain: 2, numTest: 1, dim: 2, cosine: { accuracy: 1 }, euclidean: { accuracy: 0 } });
    });

    it('breaks vote ties by the smaller class index', () => {
      // Both neighbours are equally similar and equally far: one vote each for classes 2 and 1.
      const tied = rows([[0, 1], [0, -1]], [2, 1]);
      assert.deepEqual(knn(tied, rows([[1, 0]], [1]), { k: 2 }).cosine, { accuracy: 1 });
      assert.deepEqual(knn(tied, rows([[1, 0]], [1]), { k: 2 }).euclidean, { accuracy: 1 });
      assert.deepEqual(knn(tied, rows([[1, 0]], [2]), { k: 2 }).cosine, { accuracy: 0 });
    });

    it('keeps the smaller train index among equally near neighbours, also across train blocks', () => {
      const tied = rows([[0, 1], [0, -1]], [3, 0]);
      for (const trainChunk of [1, 2]) {
        const r = knn(tied, rows([[1, 0]], [3]), { k: 1, trainChunk });
        assert.deepEqual([r.cosine, r.euclidean], [{ accuracy: 1 }, { accuracy: 1 }]);
      }
    });

    it('reports only the requested metric', () => {
      const r = knn(train, test, { k: 1, metric: 'euclidean' });
      assert.equal(r.cosine, undefined);
      assert.deepEqual(r.euclidean, { accuracy: 1 });
    });
  });

  describe('knn on random data', () => {
    const rng = new Rng(7);
    const train = blobs(rng, 300, 8, 5, 1);
    const test = blobs(rng, 50, 8, 5, 1, train.centres);

    it('equals a brute-force float64 implementation', () => {
      for (const k of [1, 10]) {
        for (const temperature of [0.07, 0.5]) {
          const r = knn(train, test, { k, temperature });
          assert.equal(r.cosine?.accuracy, bruteForceKnn(train, test, k, 'cosine', temperature), `cosine k=${k} T=${temperature}`);
          assert.equal(r.euclidean?.accuracy, bruteForceKnn(train, test, k, 'euclidean', temperature), `euclidean k=${k}`);
        }
      }
      // Not a degenerate set: well above chance (0.2), below perfect.
      const acc = knn(train, test).cosine?.accuracy ?? 0;
      assert.ok(acc > 0.4 && acc < 1, `accuracy ${acc}`);
    });

    it('gives the same result in chunks of test and train rows', () => {
      const whole = knn(train, test, { chunk: 1000, trainChunk: 1000 });
      assert.deepEqual(knn(train, test, { chunk: 7, trainChunk: 13 }), whole);
      assert.deepEqual(knn(train, test, { chunk: 1, trainChunk: 300 }), whole);
    });

    it('leaks no tensors', () => {
      noLeak(() => knn(train, test, { chunk: 16, trainChunk: 64 }));
    });
  });

  describe('knn input checks', () => {
    const train = rows([[1, 0], [0, 1]], [0, 1]);
    const test = rows([[1, 0]], [0]);
    const cases: [string, () => unknown, RegExp][] = [
      ['dim mismatch', () => knn(train, rows([[1, 0, 0]], [0])), /dim 2 but test features have dim 3/],
      ['label count', () => knn({ ...train, labels: Int32Array.from([0]) }, test), /2 feature rows but 1 labels/],
      ['ragged features', () => knn({ ...train, features: new Float32Array(3) }, test), /not a whole number of rows/],
      ['k > numTrain', () => knn(train, test, { k: 3 }), /k = 3 is larger than the 2 train rows/],
      ['k not an integer', () => knn(train, test, { k: 1.5 }), /k must be a positive integer/],
      ['negative label', () => knn(train, rows([[1, 0]], [-1])), /labels must be ≥ 0/],
      ['NaN feature', () => knn(rows([[1, NaN], [0, 1]], [0, 1]), test), /non-finite value NaN at row 0/],
      ['empty test', () => knn(train, { features: new Float32Array(0), labels: new Int32Array(0), dim: 2 }), /test: no rows/],
      ['bad temperature', () => knn(train, test, { k: 1, temperature: 0 }), /temperature must be a positive number/],
      ['bad chunk', () => knn(train, test, { k: 1, chunk: 0 }), /chunk must be a positive integer/],
      ['bad probe epochs', () => linearProbe(train, test, { epochs: 0 }), /epochs must be a positive integer/],
      ['probe dim mismatch', () => linearProbe(train, rows([[1]], [0])), /dim 2 but test features have dim 1/],
    ];
    for (const [name, f, message] of cases) it(`rejects ${name}`, () => assert.throws(noLeak.bind(null, f), message));
  });

  describe('linearProbe', () => {
    const rng = new Rng(11);
    // Four well separated Gaussian blobs in 6 dims (centres ~ N(0, 6²), unit noise), shifted and
    // scaled per column so that the standardization has work to do.
    const scale = (f: Features) => ({ ...f, features: f.features.map((v, i) => 100 + v * (1 + (i % f.dim))) });
    const trainBlobs = blobs(rng, 400, 6, 4, 6);
    const train = scale(trainBlobs);
    const test = scale(blobs(rng, 200, 6, 4, 6, trainBlobs.centres));
    const opts = { epochs: 30, batchSize: 64, seed: 3 };

    it('separates linearly separable blobs', () => {
      const r = noLeak(() => linearProbe(train, test, opts));
      assert.ok(r.accuracy >= 0.99, `test accuracy ${r.accuracy}`);
      assert.ok(r.trainAccuracy >= 0.99, `train accuracy ${r.trainAccuracy}`);
      assert.ok(r.trainLoss < 0.1, `train loss ${r.trainLoss}`);
      assert.equal(r.numClasses, 4);
      for (const part of ['standardized', 'Adam', 'lr 0.05', '30 epochs', 'batch 64', '0.0001/2·‖W‖²', 'seed 3']) {
        assert.ok(r.recipe.includes(part), `recipe lacks '${part}': ${r.recipe}`);
      }
    });

    it('is deterministic for a seed', () => {
      const a = linearProbe(train, test, opts);
      assert.deepEqual(linearProbe(train, test, opts), a);
      assert.notEqual(linearProbe(train, test, { ...opts, seed: 4 }).trainLoss, a.trainLoss);
    });
  });

  it('knn and linearProbe report progress: test rows over both metrics, and epochs', () => {
    const set = (n: number): Features => ({ features: Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i)), labels: Int32Array.from({ length: n }, (_, i) => i % 3), dim: 4 });
    const rows: string[] = [];
    knn(set(100), set(30), { k: 3, chunk: 16, onProgress: (done, total) => rows.push(`${done}/${total}`) });
    assert.deepEqual(rows, ['16/60', '30/60', '46/60', '60/60']);
    const epochs: string[] = [];
    linearProbe(set(100), set(30), { epochs: 3, onProgress: (done, total) => epochs.push(`${done}/${total}`) });
    assert.deepEqual(epochs, ['1/3', '2/3', '3/3']);
  });

  describe('pixelFeatures', () => {
    it('flattens uint8 images to [0, 1]', () => {
      const ds = new Dataset('tiny', Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4]), Int32Array.from([1, 0]), [2, 2, 1], ['a', 'b']);
      const f = pixelFeatures(ds);
      assert.equal(f.dim, 4);
      assert.deepEqual(Array.from(f.labels), [1, 0]);
      assert.deepEqual(Array.from(f.features), Array.from([0, 255, 51, 102, 1, 2, 3, 4], (v) => Math.fround(v / 255)));
    });
  });

  describe('on wasm', () => {
    before(async () => {
      await tf.setBackend('wasm');
    });
    after(async () => {
      await tf.setBackend('cpu');
    });

    it('knn equals the brute force and the probe is deterministic', () => {
      const rng = new Rng(5);
      const train = blobs(rng, 300, 8, 5, 1);
      const test = blobs(rng, 50, 8, 5, 1, train.centres);
      const r = noLeak(() => knn(train, test, { chunk: 16, trainChunk: 100 }));
      assert.equal(r.cosine?.accuracy, bruteForceKnn(train, test, 10, 'cosine', 0.07));
      assert.equal(r.euclidean?.accuracy, bruteForceKnn(train, test, 10, 'euclidean', 0.07));
      const probe = noLeak(() => linearProbe(train, test, { epochs: 5, batchSize: 32 }));
      assert.deepEqual(linearProbe(train, test, { epochs: 5, batchSize: 32 }), probe);
    });
  });

  describe('statistics over seeds', () => {
    it('mean ± sample std, with the sign for differences and the mean alone for one seed', () => {
      const s = summarize([1, 2, 4]);
      assert.equal(s.mean, 7 / 3);
      assert.ok(Math.abs(s.std - Math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)) < 1e-15);
      assert.equal(formatMeanStd(s), '2.33 ± 1.53');
      assert.equal(formatMeanStd(summarize([0.5, 0.7]), 1, true), '+0.6 ± 0.1');
      assert.equal(formatMeanStd(summarize([-3])), '-3.00');
      assert.ok(Number.isNaN(summarize([-3]).std));
      assert.throws(() => summarize([]), /no values/);
    });

    it("Student's t p-value: closed forms for 1 and 2 d.f., the tables' 5 % critical values, symmetry", () => {
      for (const t of [0, 0.3, 1, 2.5, 7, 40]) {
        // df 1 (Cauchy): 1 − 2·atan(|t|)/π; df 2: 1 − |t|/√(2 + t²).
        assert.ok(Math.abs(studentTwoSidedP(t, 1) - (1 - (2 * Math.atan(t)) / Math.PI)) < 1e-12, `df 1, t ${t}`);
        assert.ok(Math.abs(studentTwoSidedP(-t, 2) - (1 - t / Math.sqrt(2 + t * t))) < 1e-12, `df 2, t ${-t}`);
      }
      // Two-sided 5 % critical values of Student's t (any statistics table).
      for (const [df, t] of [[2, 4.302653], [4, 2.776445], [10, 2.228139], [30, 2.042272], [1000, 1.962339]]) {
        assert.ok(Math.abs(studentTwoSidedP(t, df) - 0.05) < 1e-6, `df ${df}: ${studentTwoSidedP(t, df)}`);
        assert.ok(Math.abs(studentCritical(0.05, df) - t) < 1e-5, `critical t, df ${df}: ${studentCritical(0.05, df)}`);
      }
      assert.ok(Math.abs(studentCritical(0.05, 1) - 12.7062047) < 1e-6); // df 1: tan(π/2 · 0.95)
      assert.throws(() => studentCritical(0, 3), /p must be in \(0, 1\)/);
      assert.equal(studentTwoSidedP(Infinity, 3), 0);
      assert.throws(() => studentTwoSidedP(1, 0), /degrees of freedom/);
    });

    it('paired difference: per-seed differences, t, p and a verdict for each case', () => {
      const effect = pairedDifference([70, 68, 72], [66, 65, 67.5], 'points');
      assert.deepEqual(effect.values, [-4, -3, -4.5]);
      assert.ok(effect.sameSign);
      assert.ok(Math.abs(effect.t - effect.mean / (effect.std / Math.sqrt(3))) < 1e-12);
      assert.ok(effect.p < 0.05);
      // 95 % interval: mean ± 4.302653 · std / √3 (t₀.₉₇₅ with 2 d.f.).
      assert.ok(Math.abs(effect.interval95[0] - -5.730630) < 1e-5 && Math.abs(effect.interval95[1] - -1.936037) < 1e-5, `${effect.interval95}`);
      assert.match(effect.verdict, /^-3\.83 ± 0\.76 points over 3 seeds, 95 % interval \[-5\.73, -1\.94\]; same sign in all 3 seeds; paired t = -8\.69 \(2 d\.f\.\), p = 0\.013: an effect at the 5 % level$/);
      const withinSpread = pairedDifference([0, 0, 0], [-0.1, -1, -0.2]);
      assert.ok(withinSpread.sameSign && withinSpread.p > 0.05);
      assert.match(withinSpread.verdict, /same sign in all 3 seeds; .*not significant at the 5 % level$/);
      assert.match(pairedDifference([0, 0, 0], [1, -1, 0.5]).verdict, /the sign changes across seeds; .*not significant/);
      assert.match(pairedDifference([1], [2]).verdict, /^\+1\.00 over 1 seed; one seed, no spread/);
      assert.ok(pairedDifference([1], [2]).interval95.every(Number.isNaN));
      assert.throws(() => pairedDifference([1, 2], [1]), /2 baseline values but 1 after/);
    });
  });
});
