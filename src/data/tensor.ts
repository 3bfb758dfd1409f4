/**
 * From uint8 batches to model inputs: float32 N×H×W×C, standardized per channel with the
 * dataset's statistics ((x/255 − mean) / std), made one batch at a time.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, ChannelStats } from './dataset';

/** A batch as a standardized float32 tensor [n, H, W, C] (with `stats`, default the batch's own). The caller disposes it. */
export function batchToTensor(batch: Batch, stats: ChannelStats = batch.stats): tf.Tensor4D {
  const [n, h, w, c] = batch.shape;
  const out = new Float32Array(batch.images.length);
  const scale = stats.std.map((s) => 1 / (255 * s));
  const shift = stats.mean.map((m, i) => m / stats.std[i]);
  for (let i = 0; i < out.length; i++) {
    const ch = i % c;
    out[i] = batch.images[i] * scale[ch] - shift[ch];
  }
  return tf.tensor4d(out, [n, h, w, c]);
}
