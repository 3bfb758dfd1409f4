/**
 * Images ↔ patch tokens, and the fixed 2-D sin-cos positional embedding (SPEC §1).
 * Patch order is row-major over the grid; inside a patch the values are ordered (row, column,
 * channel), as in facebookresearch/mae's patchify.
 */
import * as tf from '@tensorflow/tfjs';

/** Images [N, H, W, C] → patches [N, L, p·p·C] with L = (H/p)·(W/p). */
export function patchify(images: tf.Tensor4D, patch: number): tf.Tensor3D {
  const [n, h, w, c] = images.shape;
  if (h % patch !== 0 || w % patch !== 0) throw new Error(`patchify: image ${h}×${w} is not a multiple of patch ${patch}`);
  const gh = h / patch;
  const gw = w / patch;
  // [N, gh, p, gw, p, C] → [N, gh, gw, p, p, C]: a 6-D transpose, done once per step on the input.
  const grid = tf.reshape(images, [n, gh, patch, gw, patch, c]);
  return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [n, gh * gw, patch * patch * c]);
}

/** Patches [N, L, p·p·C] → images [N, H, W, C] (square grid; the inverse of {@link patchify}). */
export function unpatchify(patches: tf.Tensor3D, patch: number, channels: number): tf.Tensor4D {
  const [n, l, d] = patches.shape;
  const g = Math.round(Math.sqrt(l));
  if (g * g !== l || d !== patch * patch * channels) {
    throw new Error(`unpatchify: expected [N, g², ${patch}·${patch}·${channels}], got [${patches.shape.join(', ')}]`);
  }
  const grid = tf.reshape(patches, [n, g, g, patch, patch, channels]);
  return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [n, g * patch, g * patch, channels]);
}

/**
 * Fixed 2-D sin-cos positional embedding [g·g, dim] for a g×g grid: the first dim/2 channels
 * encode the column, the last dim/2 the row; each half is [sin(pos·ω_i), cos(pos·ω_i)] with
 * ω_i = 1/10000^(i/(dim/4)), i < dim/4.
 */
export function sinCosPositionalEmbedding(dim: number, grid: number): Float32Array {
  const out = new Float32Array(grid * grid * dim);
  const quarter = dim / 4;
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const base = (row * grid + col) * dim;
      for (let i = 0; i < quarter; i++) {
        const omega = 1 / Math.pow(10000, i / quarter);
        out[base + i] = Math.sin(col * omega);
        out[base + quarter + i] = Math.cos(col * omega);
        out[base + 2 * quarter + i] = Math.sin(row * omega);
        out[base + 3 * quarter + i] = Math.cos(row * omega);
      }
    }
  }
  return out;
}

/** {@link sinCosPositionalEmbedding} with a zero row for the CLS token in front: [1 + g·g, dim], as MAE stores it. */
export function sinCosWithClsRow(dim: number, grid: number): Float32Array {
  const out = new Float32Array((1 + grid * grid) * dim);
  out.set(sinCosPositionalEmbedding(dim, grid), dim);
  return out;
}
