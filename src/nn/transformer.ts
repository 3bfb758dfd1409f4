/**
 * The pre-norm Transformer block of ViT/MAE: x + Attn(LN(x)), then x + MLP(LN(x)).
 */
import * as tf from '@tensorflow/tfjs';
import { batchMatMul, gelu, layerNorm, linear } from './layers';
import type { LinearParams, NormParams, ParamStore } from './params';

/** Parameters of one block. */
export interface BlockParams {
  norm1: NormParams;
  qkv: LinearParams; // [D, 3D], with bias (qkv_bias=True)
  proj: LinearParams; // [D, D]
  norm2: NormParams;
  fc1: LinearParams; // [D, mlpRatio·D]
  fc2: LinearParams; // [mlpRatio·D, D]
  heads: number;
  eps: number;
}

/** Creates the parameters of one block under `name` (e.g. `encoder.blocks.3`). */
export function createBlock(store: ParamStore, name: string, width: number, heads: number, mlpRatio: number, eps: number): BlockParams {
  return {
    norm1: store.layerNorm(`${name}.norm1`, width),
    qkv: store.linear(`${name}.attn.qkv`, width, 3 * width),
    proj: store.linear(`${name}.attn.proj`, width, width),
    norm2: store.layerNorm(`${name}.norm2`, width),
    fc1: store.linear(`${name}.mlp.fc1`, width, mlpRatio * width),
    fc2: store.linear(`${name}.mlp.fc2`, mlpRatio * width, width),
    heads,
    eps,
  };
}

/** Output of {@link attention}. */
export interface AttentionOutput {
  /** [B, N, D] */
  out: tf.Tensor3D;
  /** [B, H, N, N] softmax probabilities, when asked for. */
  probs?: tf.Tensor4D;
}

/** Multi-head self-attention on [B, N, D]. */
export function attention(x: tf.Tensor3D, p: BlockParams, keepProbs = false): AttentionOutput {
  const [batch, n, width] = x.shape;
  const heads = p.heads;
  const headDim = width / heads;
  // q, k, v from column blocks of the qkv weight: splitting the [D, 3D] weight is cheaper than
  // splitting the [B, N, 3D] activation (SplitV is slow on wasm). Each [B, N, D] → [B·H, N, hd].
  const [weights, biases] = [tf.split(p.qkv.weight, 3, 1), tf.split(p.qkv.bias, 3)];
  const [q, k, v] = [0, 1, 2].map((i) => {
    const t = linear(x, { weight: weights[i] as tf.Variable, bias: biases[i] as tf.Variable });
    return tf.reshape(tf.transpose(tf.reshape(t, [batch, n, heads, headDim]), [0, 2, 1, 3]), [batch * heads, n, headDim]) as tf.Tensor3D;
  });
  const scores = batchMatMul(tf.mul(q, 1 / Math.sqrt(headDim)), k, true); //                   [B·H, N, N] = q kᵀ
  const probs = tf.softmax(scores); //                                                          rows sum to 1
  const mixed = batchMatMul(probs, v); //                                                       [B·H, N, hd]
  const merged = tf.reshape(tf.transpose(tf.reshape(mixed, [batch, heads, n, headDim]), [0, 2, 1, 3]), [batch, n, width]);
  return {
    out: linear(merged as tf.Tensor3D, p.proj),
    probs: keepProbs ? (tf.reshape(probs, [batch, heads, n, n]) as tf.Tensor4D) : undefined,
  };
}

/** Output of {@link transformerBlock}. */
export interface BlockOutput {
  /** [B, N, D] */
  out: tf.Tensor3D;
  /** [B, H, N, N], when asked for. */
  attention?: tf.Tensor4D;
}

/** One pre-norm block: x + Attn(LN₁(x)); then + MLP(LN₂(x)) with GELU. */
export function transformerBlock(x: tf.Tensor3D, p: BlockParams, keepAttention = false): BlockOutput {
  const att = attention(layerNorm(x, p.norm1, p.eps), p, keepAttention);
  const h = tf.add(x, att.out) as tf.Tensor3D;
  const mlp = linear(gelu(linear(layerNorm(h, p.norm2, p.eps), p.fc1)), p.fc2);
  return { out: tf.add(h, mlp) as tf.Tensor3D, attention: att.probs };
}
