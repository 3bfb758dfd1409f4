/**
 * Building blocks written for speed on every backend (../shared/research/BACKEND.md). Where the
 * fast way depends on the backend, the block asks {@link computeStrategy} (src/backend.ts), which
 * says what the active backend runs fast:
 * - XNNPACK-wasm runs a matMul fast only when it is 2-D with no transpose flag; autograd's matMul
 *   gradient uses transpose flags (a 10× slower scalar loop there), so without fast transposed
 *   products `linear`'s custom gradient transposes explicitly; with them (native BLAS,
 *   TensorFlow) it passes the flags, and the forward pass is one fused product + bias;
 * - `tf.gather` has no gradient kernel on wasm (UnsortedSegmentSum is missing) and its forward
 *   kernel is slow, so `gatherRows` copies rows in JS and back-propagates through the inverse index;
 * - `tf.tile`'s gradient loops over every repeat, so tokens are broadcast with an add instead;
 * - a matMul with a batch dimension (attention's B·H small products) also takes the scalar loop
 *   on XNNPACK-wasm, so there `batchMatMul` writes it as a depthwise convolution, which XNNPACK runs.
 * All of them are exact: test/model.test.ts checks each custom gradient by finite differences.
 */
import * as tf from '@tensorflow/tfjs';
import { computeStrategy } from '../backend';
import { GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from '../native';
import type { LinearParams, NormParams } from './params';

/**
 * Σ over the rows of [n, d] → [d], as the product 1ₙᵀ X: one XNNPACK matMul on wasm, where a sum
 * over the first axis transposes the whole tensor first.
 */
function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);
}

/** y = x W + b on 2-D x, with a gradient made of plain (XNNPACK-friendly) matMuls. */
const linear2dPlainProducts = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(ws) as tf.Tensor2D), // dx = dy Wᵀ   [n, in]
      tf.matMul(tf.transpose(xs) as tf.Tensor2D, dy as tf.Tensor2D), // dW = xᵀ dy   [in, out]
      columnSums(dy as tf.Tensor2D), //                                 db = Σ_n dy  [out]
    ],
  };
});

/** y = x W + b on 2-D x as one fused product, with a gradient of transposed products (no copies). */
const linear2dTransposedProducts = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, ws as tf.Tensor2D, false, true), // dx = dy Wᵀ   [n, in]
      tf.matMul(xs as tf.Tensor2D, dy as tf.Tensor2D, true, false), // dW = xᵀ dy   [in, out]
      columnSums(dy as tf.Tensor2D), //                                db = Σ_n dy  [out]
    ],
  };
});

/** Linear layer on the last axis: [..., in] → [..., out]. */
export function linear<T extends tf.Tensor>(x: T, p: LinearParams): T {
  const shape = x.shape as number[];
  const linear2d = computeStrategy().fastTransposedProducts ? linear2dTransposedProducts : linear2dPlainProducts;
  const y = linear2d(tf.reshape(x, [-1, shape[shape.length - 1]]), p.weight, p.bias);
  return tf.reshape(y, [...shape.slice(0, -1), p.weight.shape[1] as number]) as T;
}

/**
 * [G, M, K] × [G, K, N] → [G, M, N] as one depthwise convolution: the G products are the channels,
 * A's rows are laid end to end as one image row of M·K pixels, and B[g] is channel g's filter of
 * width K (stride K) with N outputs (the channel multiplier): out[m, g·N + n] = Σ_k A[g, m, k] B[g, k, n].
 * With `transposeB`, b is given as [G, N, K] and A·Bᵀ is computed.
 */
function depthwiseProduct(a: tf.Tensor3D, b: tf.Tensor3D, transposeB: boolean): tf.Tensor3D {
  const [g, m, k] = a.shape;
  const n = transposeB ? b.shape[1] : b.shape[2];
  const image = tf.reshape(tf.transpose(a, [1, 2, 0]), [1, 1, m * k, g]) as tf.Tensor4D; //                   [1, 1, M·K, G]
  const filter = tf.reshape(tf.transpose(b, transposeB ? [2, 0, 1] : [1, 0, 2]), [1, k, g, n]) as tf.Tensor4D; // [1, K, G, N]
  const out = tf.depthwiseConv2d(image, filter, [1, k], 'valid'); //                                          [1, 1, M, G·N]
  return tf.transpose(tf.reshape(out, [m, g, n]), [1, 0, 2]);
}

/** {@link depthwiseProduct} with its gradient (wasm has no depthwise backprop kernels), by the same product. */
function depthwiseProductWithGrad(transposeB: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    save([a, b]);
    const t = (x: tf.Tensor) => tf.transpose(x as tf.Tensor3D, [0, 2, 1]);
    return {
      value: depthwiseProduct(a, b, transposeB),
      gradFunc: (dy: tf.Tensor, [as, bs]: tf.Tensor[]) => {
        const dc = dy as tf.Tensor3D;
        return transposeB
          ? [depthwiseProduct(dc, bs as tf.Tensor3D, false), depthwiseProduct(t(dc), as as tf.Tensor3D, false)] // C = ABᵀ: dA = dC B, dB = dCᵀ A
          : [depthwiseProduct(dc, bs as tf.Tensor3D, true), depthwiseProduct(t(as), dc, false)]; //               C = AB:  dA = dC Bᵀ, dB = Aᵀ dC
      },
    };
  });
}
const depthwiseProducts = { plain: depthwiseProductWithGrad(false), transposed: depthwiseProductWithGrad(true) };

/**
 * Batched matrix product A·B (or A·Bᵀ with `transposeB`, B given as [G, N, K]):
 * [G, M, K] × [G, K, N] → [G, M, N]. On XNNPACK-wasm a depthwise convolution (2.6× faster there,
 * BACKEND.md); elsewhere tf.matMul, which is faster than the convolution.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeB = false): tf.Tensor3D {
  if (!computeStrategy().batchedProductsAsConvolution) return tf.matMul(a, b, false, transposeB);
  return (transposeB ? depthwiseProducts.transposed : depthwiseProducts.plain)(a, b) as tf.Tensor3D;
}

/**
 * LayerNorm of the rows of [n, d], with the closed-form gradient (a handful of kernels where
 * autograd of tf.moments emits dozens): with x̂ = (x − μ)·r, r = 1/√(σ² + ε) and ĝ = dy·γ,
 * dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dγ = Σₙ dy·x̂, dβ = Σₙ dy.
 */
function layerNorm2d(eps: number) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, weight, bias, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const { mean, variance } = tf.moments(x, -1, true); //          [n, 1]
    const rstd = tf.rsqrt(tf.add(variance, eps)); //               [n, 1]
    const normalized = tf.mul(tf.sub(x, mean), rstd); //           [n, d] x̂
    save([normalized, rstd, weight]);
    return {
      value: tf.add(tf.mul(normalized, weight), bias),
      gradFunc: (dy: tf.Tensor, [xhat, r, w]: tf.Tensor[]) => {
        const g = tf.mul(dy, w); //                                  ĝ
        const centered = tf.sub(g, tf.mean(g, -1, true));
        const dx = tf.mul(tf.sub(centered, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))), r);
        return [dx, columnSums(tf.mul(dy, xhat) as tf.Tensor2D), columnSums(dy as tf.Tensor2D)];
      },
    };
  });
}

/** {@link layerNorm2d} as the two fused native kernels (src/native.ts), with the same formulas. */
function layerNorm2dFused(eps: number) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, weight, bias, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const [value, normalized, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, weight, bias }, { eps }) as tf.Tensor[];
    save([normalized, rstd, weight]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [xhat, r, w]: tf.Tensor[]) =>
        tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, xhat, rstd: r, weight: w }) as tf.Tensor[], // dx, dγ, dβ
    };
  });
}

/** The LayerNorm functions made so far, by (fused, ε). */
const layerNorms = new Map<string, ReturnType<typeof layerNorm2d>>();

/**
 * LayerNorm over the last axis (biased variance, as torch): one fused kernel each way where the
 * native kernels provide them, else a handful of TF.js kernels.
 */
export function layerNorm<T extends tf.Tensor>(x: T, p: NormParams, eps: number): T {
  const fused = computeStrategy().fusedKernels;
  const key = `${fused}:${eps}`;
  if (!layerNorms.has(key)) layerNorms.set(key, (fused ? layerNorm2dFused : layerNorm2d)(eps));
  const shape = x.shape as number[];
  const y = layerNorms.get(key)!(tf.reshape(x, [-1, shape[shape.length - 1]]), p.weight, p.bias);
  return tf.reshape(y, shape) as T;
}

/**
 * Exact GELU, x·Φ(x) with erf, as torch's nn.GELU(); its gradient Φ(x) + x·φ(x) reuses Φ from
 * the forward pass.
 */
const geluByKernels = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5); // Φ(x)
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: tf.Tensor, [xs, phi]: tf.Tensor[]) => {
      const density = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI)); // φ(x)
      return tf.mul(dy, tf.add(phi, tf.mul(xs, density)));
    },
  };
}) as <T extends tf.Tensor>(x: T) => T;

/** {@link gelu} as the two fused native kernels (src/native.ts), with the same formulas. */
const geluFused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const [value, cdf] = tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor[]; // x·Φ(x), Φ(x)
  save([x, cdf]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, [xs, phi]: tf.Tensor[]) => tf.engine().runKernel(GELU_GRAD_KERNEL, { dy, x: xs, cdf: phi }) as tf.Tensor,
  };
});

/**
 * Exact GELU, x·Φ(x) with erf, as torch's nn.GELU(): one fused kernel each way where the native
 * kernels provide them, else a handful of TF.js kernels.
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return (computeStrategy().fusedKernels ? geluFused(x) : geluByKernels(x)) as T;
}

/** A [1, 1, D] token repeated to [B, n, D] by broadcasting (its gradient is one sum). */
export function broadcastToken(token: tf.Tensor, batch: number, n: number): tf.Tensor3D {
  return tf.add(tf.zeros([batch, n, token.shape[token.shape.length - 1]]), token) as tf.Tensor3D;
}

/**
 * out[r] = source row `rows[r]` of a [R, D] tensor, or zeros where `rows[r]` is −1. On wasm and
 * cpu the rows are copied in JS (wasm's GatherV2 runs ~50× slower than a memory copy); elsewhere
 * by tf.gather from the source with a zero row appended.
 */
function pickRows(source: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [count, d] = source.shape;
  if (!computeStrategy().hostMemory) {
    const index = tf.tensor1d(rows.map((r) => (r < 0 ? count : r)), 'int32');
    const out = tf.gather(tf.concat([source, tf.zeros([1, d])], 0), index) as tf.Tensor2D;
    index.dispose();
    return out;
  }
  const values = source.dataSync() as Float32Array;
  const out = new Float32Array(rows.length * d);
  for (let r = 0; r < rows.length; r++) if (rows[r] >= 0) out.set(values.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
  return tf.tensor2d(out, [rows.length, d]);
}

/**
 * Picks rows of a [B, N, D] tensor per sample: out[b, i] = x[b, index[b·M + i]], for an index
 * [B·M] of distinct positions in 0..N-1 within each sample (a permutation, or the kept part of
 * one). The gradient scatters back by picking again through the inverse map: rows that were
 * not picked get zero.
 */
export function gatherRows(x: tf.Tensor3D, index: Int32Array): tf.Tensor3D {
  const [batch, n, d] = x.shape;
  const m = index.length / batch;
  if (!Number.isInteger(m)) throw new Error(`gatherRows: index length ${index.length} is not a multiple of batch ${batch}`);
  // Flat row numbers into [B·N, D], and the inverse map: for each of the B·N source rows, the
  // output row it went to, or −1 when it was not picked.
  const forward = new Int32Array(batch * m);
  const inverse = new Int32Array(batch * n).fill(-1);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < m; i++) {
      const src = b * n + index[b * m + i];
      forward[b * m + i] = src;
      inverse[src] = b * m + i;
    }
  }
  const pick = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    return {
      value: tf.reshape(pickRows(tf.reshape(xs, [batch * n, d]), forward), [batch, m, d]),
      gradFunc: (dy: tf.Tensor) => tf.reshape(pickRows(tf.reshape(dy, [batch * m, d]), inverse), [batch, n, d]),
    };
  });
  return pick(x) as tf.Tensor3D;
}
