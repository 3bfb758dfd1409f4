/**
 * Building blocks written for speed on the wasm backend (../shared/research/BACKEND.md):
 * - wasm runs a matMul in XNNPACK only when it is 2-D with no transpose flag; autograd's matMul
 *   gradient uses transpose flags (a 10× slower scalar loop), so `linear` has a custom gradient
 *   that transposes explicitly;
 * - `tf.gather` has no gradient kernel on wasm (UnsortedSegmentSum is missing), so `gatherRows`
 *   back-propagates with a second gather through the inverse index;
 * - `tf.tile`'s gradient loops over every repeat, so tokens are broadcast with an add instead;
 * - a matMul with a batch dimension (attention's B·H small products) also takes the scalar loop,
 *   so on wasm `batchMatMul` writes it as a depthwise convolution, which XNNPACK runs.
 * All of them are exact: test/model.test.ts checks each custom gradient by finite differences.
 */
import * as tf from '@tensorflow/tfjs';
import type { LinearParams, NormParams } from './params';

/** y = x W + b on 2-D x, with a gradient made of plain (XNNPACK-friendly) matMuls. */
const linear2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(ws) as tf.Tensor2D), // dx = dy Wᵀ   [n, in]
      tf.matMul(tf.transpose(xs) as tf.Tensor2D, dy as tf.Tensor2D), // dW = xᵀ dy   [in, out]
      tf.sum(dy, 0), //                                                 db = Σ_n dy  [out]
    ],
  };
});

/** Linear layer on the last axis: [..., in] → [..., out]. */
export function linear<T extends tf.Tensor>(x: T, p: LinearParams): T {
  const shape = x.shape as number[];
  const y = linear2d(tf.reshape(x, [-1, shape[shape.length - 1]]), p.weight, p.bias);
  return tf.reshape(y, [...shape.slice(0, -1), p.weight.shape[1] as number]) as T;
}

/**
 * [G, M, K] × [G, K, N] → [G, M, N] as one depthwise convolution: the G products are the channels,
 * A's rows are laid end to end as one image row of M·K pixels, and B[g] is channel g's filter of
 * width K (stride K) with N outputs (the channel multiplier): out[m, g·N + n] = Σ_k A[g, m, k] B[g, k, n].
 */
function depthwiseProduct(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [g, m, k] = a.shape;
  const n = b.shape[2];
  const image = tf.reshape(tf.transpose(a, [1, 2, 0]), [1, 1, m * k, g]) as tf.Tensor4D; // [1, 1, M·K, G]
  const filter = tf.reshape(tf.transpose(b, [1, 0, 2]), [1, k, g, n]) as tf.Tensor4D; //    [1, K, G, N]
  const out = tf.depthwiseConv2d(image, filter, [1, k], 'valid'); //                        [1, 1, M, G·N]
  return tf.transpose(tf.reshape(out, [m, g, n]), [1, 0, 2]);
}

/** {@link depthwiseProduct} with its gradient (wasm has no depthwise backprop kernels): dA = dC Bᵀ, dB = Aᵀ dC. */
const depthwiseProductWithGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: depthwiseProduct(a, b),
    gradFunc: (dy: tf.Tensor, [as, bs]: tf.Tensor[]) => [
      depthwiseProduct(dy as tf.Tensor3D, tf.transpose(bs as tf.Tensor3D, [0, 2, 1])), // [G, M, K]
      depthwiseProduct(tf.transpose(as as tf.Tensor3D, [0, 2, 1]), dy as tf.Tensor3D), // [G, K, N]
    ],
  };
});

/**
 * Batched matrix product [G, M, K] × [G, K, N] → [G, M, N]. On wasm a depthwise convolution
 * (2.6× faster there, BACKEND.md); elsewhere tf.matMul, which is faster than the convolution.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return (tf.getBackend() === 'wasm' ? depthwiseProductWithGrad(a, b) : tf.matMul(a, b)) as tf.Tensor3D;
}

/** LayerNorm over the last axis (biased variance, as torch). */
export function layerNorm<T extends tf.Tensor>(x: T, p: NormParams, eps: number): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), p.weight), p.bias) as T;
}

/** Exact GELU, x·Φ(x) with erf, as torch's nn.GELU(). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T;
}

/** A [1, 1, D] token repeated to [B, n, D] by broadcasting (its gradient is one sum). */
export function broadcastToken(token: tf.Tensor, batch: number, n: number): tf.Tensor3D {
  return tf.add(tf.zeros([batch, n, token.shape[token.shape.length - 1]]), token) as tf.Tensor3D;
}

/**
 * Picks rows of a [B, N, D] tensor per sample: out[b, i] = x[b, index[b·M + i]], for an index
 * [B·M] of distinct positions in 0..N-1 within each sample (a permutation, or the kept part of
 * one). The gradient scatters back with another gather: rows that were not picked get zero.
 */
export function gatherRows(x: tf.Tensor3D, index: Int32Array): tf.Tensor3D {
  const [batch, n, d] = x.shape;
  const m = index.length / batch;
  if (!Number.isInteger(m)) throw new Error(`gatherRows: index length ${index.length} is not a multiple of batch ${batch}`);
  // Flat row numbers into [B·N, D], and the inverse map: for each of the B·N source rows, the
  // output row it went to, or B·M (a zero row appended to dy) when it was not picked.
  const forward = new Int32Array(batch * m);
  const inverse = new Int32Array(batch * n).fill(batch * m);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < m; i++) {
      const src = b * n + index[b * m + i];
      forward[b * m + i] = src;
      inverse[src] = b * m + i;
    }
  }
  const pick = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    const rows = tf.tensor1d(forward, 'int32');
    const value = tf.reshape(tf.gather(tf.reshape(xs, [batch * n, d]), rows), [batch, m, d]);
    rows.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const padded = tf.concat([tf.reshape(dy, [batch * m, d]), tf.zeros([1, d])], 0); // [B·M + 1, D]
        return tf.reshape(tf.gather(padded, tf.tensor1d(inverse, 'int32')), [batch, n, d]);
      },
    };
  });
  return pick(x) as tf.Tensor3D;
}
