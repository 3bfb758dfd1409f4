/**
 * k-nearest-neighbour classification of frozen features (SPEC §4): k = 10, top-1 accuracy, in two
 * weightings: cosine similarity of L2-normalized features with votes exp(sim / T), and euclidean
 * distance with votes 1 / (distance + 1e-5).
 *
 * Neighbours are found with one plain 2-D matMul per (test chunk, train block), so the full
 * test × train matrix never exists; a running top-k in JavaScript keeps the best k per test row
 * (largest score first, the smaller train index on equal scores). The vote weights are then
 * recomputed exactly (float64) from the raw rows of those k neighbours.
 */
import * as tf from '@tensorflow/tfjs';

/** Row-major N×dim features with one label per row. */
export interface Features {
  /** N×dim float32, row-major. */
  features: Float32Array;
  /** N class labels, integers ≥ 0. */
  labels: Int32Array;
  /** Length of one feature row. */
  dim: number;
}

/** Sizes of a checked train/test pair, from {@link checkFeaturePair}. */
export interface FeaturePairInfo {
  numTrain: number;
  numTest: number;
  /** 1 + the largest label of either set. */
  numClasses: number;
}

/** Throws unless `f` is well formed (whole rows, one label per row, labels ≥ 0, finite values); returns N. */
function checkFeatures(f: Features, name: string): number {
  if (!(Number.isInteger(f.dim) && f.dim > 0)) throw new Error(`${name}: dim must be a positive integer, got ${f.dim}`);
  if (f.features.length % f.dim !== 0) throw new Error(`${name}: ${f.features.length} values are not a whole number of rows of dim ${f.dim}`);
  const n = f.features.length / f.dim;
  if (n === 0) throw new Error(`${name}: no rows`);
  if (f.labels.length !== n) throw new Error(`${name}: ${n} feature rows but ${f.labels.length} labels`);
  const badLabel = f.labels.findIndex((l) => l < 0);
  if (badLabel >= 0) throw new Error(`${name}: label ${f.labels[badLabel]} at row ${badLabel}; labels must be ≥ 0`);
  const badValue = f.features.findIndex((v) => !Number.isFinite(v));
  if (badValue >= 0) throw new Error(`${name}: non-finite value ${f.features[badValue]} at row ${Math.floor(badValue / f.dim)}`);
  return n;
}

/** Checks a train/test pair (each well formed, same dim) and returns its sizes and number of classes. */
export function checkFeaturePair(train: Features, test: Features): FeaturePairInfo {
  const numTrain = checkFeatures(train, 'train');
  const numTest = checkFeatures(test, 'test');
  if (train.dim !== test.dim) throw new Error(`train features have dim ${train.dim} but test features have dim ${test.dim}`);
  let maxLabel = 0;
  for (const l of train.labels) maxLabel = Math.max(maxLabel, l);
  for (const l of test.labels) maxLabel = Math.max(maxLabel, l);
  return { numTrain, numTest, numClasses: maxLabel + 1 };
}

/** Throws "fn: name must be a positive number" unless it is one (and an integer, if `integer`). */
export function checkPositive(fn: string, name: string, value: number, integer: boolean): void {
  if (!(value > 0 && (!integer || Number.isInteger(value)))) throw new Error(`${fn}: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
}

/** Rows start..start+n-1 of `f` as a tensor [n, dim]. */
function featureRows(f: Features, start: number, n: number): tf.Tensor2D {
  return tf.tensor2d(f.features.subarray(start * f.dim, (start + n) * f.dim), [n, f.dim]);
}

/** The neighbour weightings of {@link knn}. */
export type KnnMetric = 'cosine' | 'euclidean';

/** Options of {@link knn}. */
export interface KnnOptions {
  /** Neighbours per test row. Default 10. */
  k?: number;
  /** Weighting(s) to evaluate. Default 'both'. */
  metric?: KnnMetric | 'both';
  /** Temperature T of the cosine votes exp(sim / T). Default 0.07. */
  temperature?: number;
  /** Test rows per chunk. Default 512. */
  chunk?: number;
  /** Train rows per block multiplied at once; a score block holds chunk × trainChunk floats. Default 16384. */
  trainChunk?: number;
  /** Called after each chunk of test rows with (test rows done, total), summed over the metrics. */
  onProgress?: (done: number, total: number) => void;
}

/** Top-1 accuracy of one weighting, a fraction in [0, 1]. */
export interface KnnMetricResult {
  accuracy: number;
}

/** Result of {@link knn}: one entry per evaluated weighting. */
export interface KnnResult {
  k: number;
  cosine?: KnnMetricResult;
  euclidean?: KnnMetricResult;
  numTrain: number;
  numTest: number;
  dim: number;
}

/** A train block prepared for scoring: keysT [dim, n] and an optional bias [n]. */
type TrainKeys = { keysT: tf.Tensor2D; bias?: tf.Tensor };

/** How one weighting ranks and weighs neighbours. */
interface MetricDef {
  /**
   * A train block [n, dim] → keys [dim, n] (transposed once, explicitly) and an optional bias
   * [n] such that `queries · keys + bias` is larger for closer neighbours.
   */
  keys(train: tf.Tensor2D): TrainKeys;
  /** A test chunk [m, dim] → queries [m, dim]. */
  queries(test: tf.Tensor2D): tf.Tensor2D;
  /** Vote of train row y for test row x, in float64. */
  weight(x: Float32Array, y: Float32Array, temperature: number): number;
}

/** Floor of the norms that rows are divided by, so that zero rows have similarity 0. */
const NORM_EPS = 1e-12;

/** Rows [n, dim] divided by their L2 norms. */
function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), NORM_EPS));
}

function cosineSimilarity(x: Float32Array, y: Float32Array): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return xy / (Math.max(Math.sqrt(xx), NORM_EPS) * Math.max(Math.sqrt(yy), NORM_EPS));
}

function euclideanDistance(x: Float32Array, y: Float32Array): number {
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += (x[i] - y[i]) ** 2;
  return Math.sqrt(sq);
}

const METRICS: Record<KnnMetric, MetricDef> = {
  cosine: {
    keys: (train) => ({ keysT: tf.transpose(l2Normalize(train)) }),
    queries: l2Normalize,
    weight: (x, y, temperature) => Math.exp(cosineSimilarity(x, y) / temperature),
  },
  euclidean: {
    // |x − y|² = |x|² − 2 (x·y − |y|²/2): the largest x·y − |y|²/2 is the nearest y.
    keys: (train) => ({
      keysT: tf.transpose(train),
      bias: tf.mul(tf.sum(tf.square(train), 1), -0.5),
    }),
    queries: (test) => test,
    weight: (x, y) => 1 / (euclideanDistance(x, y) + 1e-5),
  },
};

/** The k best (largest score, then smallest index) train indices of each of m test rows, filled block by block. */
class RunningTopK {
  /** [m, k], each row in decreasing order. */
  private readonly scores: Float32Array;
  /** [m, k] train indices matching `scores`. */
  readonly indices: Int32Array;

  constructor(readonly m: number, readonly k: number) {
    this.scores = new Float32Array(m * k).fill(-Infinity);
    this.indices = new Int32Array(m * k).fill(-1);
  }

  /** Offers a block of scores [m, n] whose columns are train rows offset..offset+n−1 (blocks in increasing offset). */
  add(block: Float32Array, n: number, offset: number): void {
    const { scores, indices, k } = this;
    for (let i = 0; i < this.m; i++) {
      const first = i * k;
      const last = first + k - 1;
      const row = i * n;
      let worst = scores[last];
      for (let j = 0; j < n; j++) {
        const s = block[row + j];
        if (!(s > worst)) continue; // an equal score keeps the earlier (smaller) index
        let p = last;
        for (; p > first && scores[p - 1] < s; p--) {
          scores[p] = scores[p - 1];
          indices[p] = indices[p - 1];
        }
        scores[p] = s;
        indices[p] = offset + j;
        worst = scores[last];
      }
    }
  }
}

/** Index of the largest vote; the smaller class index wins ties. */
function argmax(votes: Float64Array): number {
  let best = 0;
  for (let c = 1; c < votes.length; c++) if (votes[c] > votes[best]) best = c;
  return best;
}

/** Row i of f as a view. */
function row(f: Features, i: number): Float32Array {
  return f.features.subarray(i * f.dim, (i + 1) * f.dim);
}

/** Top-1 accuracy of weighted k-NN under one metric. */
function knnAccuracy(
  def: MetricDef,
  train: Features,
  test: Features,
  info: FeaturePairInfo,
  opts: Required<Omit<KnnOptions, 'metric' | 'onProgress'>>,
  onChunk: (rows: number) => void,
): number {
  const { k, temperature, chunk, trainChunk } = opts;
  return tf.tidy(() => {
    // Train blocks, kept for the whole pass: keysT [dim, n], bias [n].
    const blocks: (TrainKeys & { start: number; n: number })[] = [];
    for (let start = 0; start < info.numTrain; start += trainChunk) {
      const n = Math.min(trainChunk, info.numTrain - start);
      blocks.push({ start, n, ...tf.tidy(() => def.keys(featureRows(train, start, n))) });
    }
    const votes = new Float64Array(info.numClasses);
    let correct = 0;
    for (let start = 0; start < info.numTest; start += chunk) {
      const m = Math.min(chunk, info.numTest - start);
      const top = new RunningTopK(m, k);
      tf.tidy(() => {
        const queries = def.queries(featureRows(test, start, m)); // [m, dim]
        for (const b of blocks) {
          const scores = tf.fused.matMul({ a: queries, b: b.keysT, bias: b.bias }); // [m, n]
          top.add(scores.dataSync() as Float32Array, b.n, b.start);
          scores.dispose(); // now, not at the end of the chunk: one score block at a time
        }
      });
      for (let i = 0; i < m; i++) {
        const x = row(test, start + i);
        votes.fill(0);
        for (const j of top.indices.subarray(i * k, (i + 1) * k)) votes[train.labels[j]] += def.weight(x, row(train, j), temperature);
        if (argmax(votes) === test.labels[start + i]) correct++;
      }
      onChunk(m);
    }
    return correct / info.numTest;
  });
}

/**
 * Weighted k-NN top-1 accuracy of `test` against `train` (SPEC §4).
 *
 * Cosine: rows L2-normalized, the k most similar train rows vote exp(sim / temperature).
 * Euclidean: the k nearest train rows vote 1 / (distance + 1e-5).
 * The predicted class is the one with the largest total vote, the smaller class index on ties.
 * Memory stays at one score block of `chunk × trainChunk` floats plus the train features.
 *
 * @throws if the features are malformed, dims or label counts differ, or k > number of train rows.
 */
export function knn(train: Features, test: Features, opts: KnnOptions = {}): KnnResult {
  const { k = 10, metric = 'both', temperature = 0.07, chunk = 512, trainChunk = 16384 } = opts;
  const info = checkFeaturePair(train, test);
  checkPositive('knn', 'k', k, true);
  checkPositive('knn', 'chunk', chunk, true);
  checkPositive('knn', 'trainChunk', trainChunk, true);
  checkPositive('knn', 'temperature', temperature, false);
  if (k > info.numTrain) throw new Error(`knn: k = ${k} is larger than the ${info.numTrain} train rows`);
  if (metric !== 'both' && !(metric in METRICS)) throw new Error(`knn: unknown metric '${metric}'`);

  const metrics: KnnMetric[] = metric === 'both' ? ['cosine', 'euclidean'] : [metric];
  const result: KnnResult = { k, numTrain: info.numTrain, numTest: info.numTest, dim: train.dim };
  let done = 0;
  const onChunk = (rows: number) => opts.onProgress?.((done += rows), metrics.length * info.numTest);
  for (const name of metrics) {
    result[name] = { accuracy: knnAccuracy(METRICS[name], train, test, info, { k, temperature, chunk, trainChunk }, onChunk) };
  }
  return result;
}
