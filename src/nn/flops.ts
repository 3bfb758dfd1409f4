/**
 * `ml.flops`: matmul FLOPs of one MAE training step, counted from the config (2 FLOPs per multiply-add;
 * forward + backward = 3 × forward, since each matmul's backward is two matmuls of the same size).
 * Elementwise work, softmax and LayerNorm are left out, as in ../shared/research/bench/flops.py.
 */
import type { MaeConfig } from '../config';
import { keptCount } from './masking';

/** FLOPs of the forward pass of `blocks` pre-norm blocks over `tokens` tokens of width d, per image. */
function blockFlops(tokens: number, d: number, mlpRatio: number, blocks: number): number {
  const linear = 2 * tokens * d * d * (3 + 1 + 2 * mlpRatio); // qkv, proj, fc1, fc2
  const attention = 4 * tokens * tokens * d; //                  QKᵀ and (softmax)V
  return blocks * (linear + attention);
}

/**
 * Forward + backward matmul FLOPs of one step on `batch` images (the encoder sees the kept
 * patches, or all of them with `maskTokenInEncoder`; the decoder sees every patch).
 * @example ml.flops.maeStepFlops(ml.resolveConfig('tiny28'), 128) / 1e9 // GFLOP per step
 */
export function maeStepFlops(c: MaeConfig, batch: number): number {
  const tokens = (c.imageSize / c.patchSize) ** 2;
  const patchDim = c.patchSize * c.patchSize * c.channels;
  const encoderTokens = 1 + (c.maskTokenInEncoder ? tokens : keptCount(tokens, c.maskRatio));
  const decoderTokens = 1 + tokens;
  const forward =
    2 * tokens * patchDim * c.encoderWidth + // patch embedding (all patches, before masking)
    blockFlops(encoderTokens, c.encoderWidth, c.mlpRatio, c.encoderDepth) +
    2 * encoderTokens * c.encoderWidth * c.decoderWidth + // decoder embedding
    blockFlops(decoderTokens, c.decoderWidth, c.mlpRatio, c.decoderDepth) +
    2 * decoderTokens * c.decoderWidth * patchDim; // prediction head
  return 3 * forward * batch;
}

/**
 * Matmul FLOPs of the encoder alone over every patch (no masking) for `batch` images: forward
 * only (features for k-NN and the probe), or forward + backward (`training`: fine-tuning).
 */
export function encoderFlops(c: MaeConfig, batch: number, opts: { training?: boolean } = {}): number {
  const tokens = (c.imageSize / c.patchSize) ** 2;
  const forward = 2 * tokens * c.patchSize * c.patchSize * c.channels * c.encoderWidth + blockFlops(1 + tokens, c.encoderWidth, c.mlpRatio, c.encoderDepth);
  return (opts.training ? 3 : 1) * forward * batch;
}
