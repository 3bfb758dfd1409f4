/**
 * Linear probe on frozen features (SPEC §4). The recipe follows MAE's linear probing in spirit:
 * features standardized with the train mean and variance (a BatchNorm without affine parameters,
 * eps 1e-6) before a linear layer, trained with softmax cross-entropy; here with Adam, an L2
 * penalty on the weights and a cosine learning-rate decay, on seeded minibatches. The returned
 * `recipe` states every choice, so reports can quote it.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore } from '../nn/params';
import { Rng } from '../random';
import { warmupCosineLr } from '../train/lr';
import { AdamW } from '../train/optimizer';
import { checkFeaturePair, checkPositive, type Features } from './knn';

/** Options of {@link linearProbe}. */
export interface LinearProbeOptions {
  /** Passes over the train set. Default 50. */
  epochs?: number;
  /** Minibatch size (the last batch of an epoch may be smaller). Default 1024. */
  batchSize?: number;
  /** Peak Adam learning rate, decayed to 0 along a cosine. Default 0.05. */
  lr?: number;
  /** L2 penalty (weightDecay / 2)·‖W‖² added to the loss (bias not penalized). Default 1e-4. */
  weightDecay?: number;
  /** Seed of the weight init and of the minibatch order. Default 0. */
  seed?: number;
  /** Called after each epoch with (epochs done, epochs). */
  onProgress?: (done: number, total: number) => void;
}

/** Result of {@link linearProbe}. */
export interface LinearProbeResult {
  /** Top-1 test accuracy, a fraction in [0, 1]. */
  accuracy: number;
  /** Top-1 train accuracy of the final probe. */
  trainAccuracy: number;
  /** Mean train cross-entropy of the final probe (without the L2 term). */
  trainLoss: number;
  /** Everything that was done, in words. */
  recipe: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  numClasses: number;
}

/** Epsilon added to the variance, as in MAE's BatchNorm1d(affine=False, eps=1e-6). */
const BN_EPS = 1e-6;
/** Standard deviation of the initial weights (MAE's head init is trunc_normal(std=0.01)). */
const INIT_STD = 0.01;
const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;
/** Rows per evaluation chunk. */
const EVAL_CHUNK = 8192;

/**
 * Features standardized with the train statistics, (x − mean) / sqrt(var + eps), each row followed
 * by a constant 1 so that the bias is the last row of the weight matrix: [N, dim + 1] row-major.
 */
interface Standardized {
  x: Float32Array;
  labels: Int32Array;
  rows: number;
  /** dim + 1. */
  cols: number;
}

/** Per-column mean and 1 / sqrt(var + eps) of the train features, in float64. */
function columnStats(f: Features): { mean: Float64Array; invStd: Float64Array } {
  const n = f.labels.length;
  const mean = new Float64Array(f.dim);
  const sq = new Float64Array(f.dim);
  for (let i = 0; i < f.features.length; i++) mean[i % f.dim] += f.features[i];
  for (let c = 0; c < f.dim; c++) mean[c] /= n;
  for (let i = 0; i < f.features.length; i++) sq[i % f.dim] += (f.features[i] - mean[i % f.dim]) ** 2;
  const invStd = sq.map((s) => 1 / Math.sqrt(s / n + BN_EPS));
  return { mean, invStd };
}

function standardize(f: Features, stats: { mean: Float64Array; invStd: Float64Array }): Standardized {
  const rows = f.labels.length;
  const cols = f.dim + 1;
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < f.dim; c++) x[r * cols + c] = (f.features[r * f.dim + c] - stats.mean[c]) * stats.invStd[c];
    x[r * cols + f.dim] = 1;
  }
  return { x, labels: f.labels, rows, cols };
}

/** Minibatch `rows` of `s` as x [B, cols], its transpose xT [cols, B] and one-hot labels y [B, C]. */
function makeBatch(s: Standardized, rows: Int32Array, numClasses: number): { x: tf.Tensor2D; xT: tf.Tensor2D; y: tf.Tensor2D } {
  const n = rows.length;
  const { cols } = s;
  const x = new Float32Array(n * cols);
  const xT = new Float32Array(cols * n);
  const y = new Float32Array(n * numClasses);
  for (let r = 0; r < n; r++) {
    const src = rows[r] * cols;
    x.set(s.x.subarray(src, src + cols), r * cols);
    for (let c = 0; c < cols; c++) xT[c * n + r] = s.x[src + c];
    y[r * numClasses + s.labels[rows[r]]] = 1;
  }
  // Rows are gathered and transposed here: on wasm this is much faster than tf.gather / tf.transpose.
  return { x: tf.tensor2d(x, [n, cols]), xT: tf.tensor2d(xT, [cols, n]), y: tf.tensor2d(y, [n, numClasses]) };
}

/** Top-1 accuracy and mean cross-entropy of the probe w [cols, C] (bias in the last row). */
function evaluate(s: Standardized, w: tf.Tensor2D, numClasses: number): { accuracy: number; loss: number } {
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < s.rows; start += EVAL_CHUNK) {
    const n = Math.min(EVAL_CHUNK, s.rows - start);
    const labels = s.labels.subarray(start, start + n);
    tf.tidy(() => {
      const x = tf.tensor2d(s.x.subarray(start * s.cols, (start + n) * s.cols), [n, s.cols]);
      const logits = tf.matMul(x, w); // [n, C]
      const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses); // [n, C]
      lossSum += tf.losses.softmaxCrossEntropy(onehot, logits, undefined, undefined, tf.Reduction.SUM).dataSync()[0];
      const predicted = tf.argMax(logits, 1).dataSync(); // [n]
      for (let i = 0; i < n; i++) if (predicted[i] === labels[i]) correct++;
    });
  }
  return { accuracy: correct / s.rows, loss: lossSum / s.rows };
}

/**
 * Trains a linear classifier on standardized frozen train features and reports its top-1
 * accuracy on the test features.
 *
 * Objective: mean softmax cross-entropy + (weightDecay / 2)·‖W‖² (bias not penalized), minimized
 * with Adam (β1 0.9, β2 0.999, eps 1e-8) and a cosine learning-rate decay from `lr` to 0 over all
 * steps. Gradients are written out (∂loss/∂logits = (softmax − onehot) / B), not taken by autodiff.
 * Deterministic for a seed on a given backend.
 *
 * @throws if the features are malformed or their dims differ, or an option is out of range.
 */
export function linearProbe(train: Features, test: Features, opts: LinearProbeOptions = {}): LinearProbeResult {
  const { epochs = 50, batchSize = 1024, lr = 0.05, weightDecay = 1e-4, seed = 0 } = opts;
  const { numTrain, numClasses } = checkFeaturePair(train, test);
  checkPositive('linearProbe', 'epochs', epochs, true);
  checkPositive('linearProbe', 'batchSize', batchSize, true);
  checkPositive('linearProbe', 'lr', lr, false);
  if (!(weightDecay >= 0)) throw new Error(`linearProbe: weightDecay must be ≥ 0, got ${weightDecay}`);
  if (!Number.isInteger(seed)) throw new Error(`linearProbe: seed must be an integer, got ${seed}`);
  const { dim } = train;

  const stats = columnStats(train);
  const trainX = standardize(train, stats);
  const testX = standardize(test, stats);
  const rng = new Rng(seed);
  const w0 = Float32Array.from({ length: (dim + 1) * numClasses }, (_, i) => (i < dim * numClasses ? rng.normal(0, INIT_STD) : 0));
  // [dim + 1, C]: W, then the bias row. The L2 penalty is part of the gradient (Adam, not AdamW).
  const store = new ParamStore(rng);
  const weight = store.add('weight', [dim + 1, numClasses], w0, false);
  const adam = new AdamW(store.params, { betas: [BETA1, BETA2], eps: ADAM_EPS, weightDecay: 0 });
  const decay = tf.tensor2d(Float32Array.from({ length: dim + 1 }, (_, i) => (i < dim ? weightDecay : 0)), [dim + 1, 1]); // [dim + 1, 1]

  try {
    const stepsPerEpoch = Math.ceil(numTrain / batchSize);
    const totalSteps = epochs * stepsPerEpoch;
    let step = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.permutation(numTrain);
      for (let start = 0; start < numTrain; start += batchSize, step++) {
        const lrNow = warmupCosineLr(step, { peak: lr, warmupSteps: 0, totalSteps });
        tf.tidy(() => {
          const { x, xT, y } = makeBatch(trainX, order.subarray(start, start + batchSize), numClasses);
          const w = weight as tf.Tensor2D;
          const logits = tf.matMul(x, w); // [B, C]
          const gLogits = tf.div(tf.sub(tf.softmax(logits), y), x.shape[0]) as tf.Tensor2D; // ∂loss/∂logits [B, C]
          adam.apply(new Map([['weight', tf.add(tf.matMul(xT, gLogits), tf.mul(w, decay))]]), lrNow); // gradient [dim + 1, C]
        });
      }
      opts.onProgress?.(epoch + 1, epochs);
    }

    const w = weight as tf.Tensor2D;
    const onTrain = evaluate(trainX, w, numClasses);
    const onTest = evaluate(testX, w, numClasses);
    const recipe =
      `linear probe: features standardized with the train mean/variance (BatchNorm without affine, eps ${BN_EPS}); ` +
      `linear ${dim}→${numClasses} (W ~ N(0, ${INIT_STD}²), b = 0); softmax cross-entropy + ${weightDecay}/2·‖W‖² (bias not decayed); ` +
      `Adam (β1 ${BETA1}, β2 ${BETA2}, eps ${ADAM_EPS}), lr ${lr} with cosine decay to 0 per step; ` +
      `${epochs} epochs × ${stepsPerEpoch} steps, batch ${batchSize}, init and shuffles from seed ${seed}`;
    return {
      accuracy: onTest.accuracy,
      trainAccuracy: onTrain.accuracy,
      trainLoss: onTrain.loss,
      recipe,
      epochs,
      batchSize,
      lr,
      weightDecay,
      seed,
      numClasses,
    };
  } finally {
    adam.dispose();
    weight.dispose();
    decay.dispose();
  }
}
