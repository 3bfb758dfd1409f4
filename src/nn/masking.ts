/**
 * Which patches the encoder sees. Masks are drawn in JavaScript from a seeded Rng (so they are
 * identical on every backend) and expressed as MAE's index arrays:
 *   idsShuffle[b] — a permutation of 0..L-1 whose first `keep` entries are the visible patches,
 *   idsRestore[b] — its inverse (position of each patch in the shuffled order),
 *   mask[b, l]    — 1 where patch l is removed, 0 where it is visible.
 */
import type { MaskSampling } from '../config';
import { Rng } from '../random';

/** The masks of one batch. */
export interface Masking {
  batch: number;
  /** Tokens per image, L. */
  tokens: number;
  /** Visible tokens per image. */
  keep: number;
  /** [B·L] per-sample permutations, visible patches first. */
  idsShuffle: Int32Array;
  /** [B·L] inverse permutations. */
  idsRestore: Int32Array;
  /** [B·L] 1 = removed, 0 = visible. */
  mask: Float32Array;
}

/** Number of visible patches for a mask ratio r: floor(L·(1 − r)), as MAE. */
export function keptCount(tokens: number, ratio: number): number {
  return Math.floor(tokens * (1 - ratio));
}

/**
 * Draws the masks of a batch on a g×g grid of patches.
 * - `random`: per sample, uniform noise per token, argsort, keep the first floor(L·(1−r)) (MAE).
 * - `block`: per sample, remove random rectangles (area between 4 patches and what is left to
 *   remove, log-uniform aspect 0.3–3.3, after BEiT's block-wise masking) until at least L − keep patches are removed; extra removed patches of the
 *   last rectangle are put back at random so that exactly floor(L·(1−r)) stay visible.
 * - `grid`: keep every s-th patch in both directions with s = round(1/√(1−r)) (s = 2 for 75 %),
 *   the same for every sample; the ratio is then 1 − ⌈g/s⌉²/L (exactly 75 % when g is even).
 */
export function sampleMasking(rng: Rng, batch: number, grid: number, ratio: number, sampling: MaskSampling): Masking {
  const tokens = grid * grid;
  const keep = sampling === 'grid' ? Math.ceil(grid / gridStride(ratio)) ** 2 : keptCount(tokens, ratio);
  const idsShuffle = new Int32Array(batch * tokens);
  for (let b = 0; b < batch; b++) {
    const order = sampling === 'random' ? randomOrder(rng, tokens)
      : orderVisibleFirst(sampling === 'block' ? blockRemoved(rng, grid, tokens - keep) : gridRemoved(grid, gridStride(ratio)));
    idsShuffle.set(order, b * tokens);
  }
  return fromShuffle(idsShuffle, batch, tokens, keep);
}

/** Builds the restore indices and the mask from per-sample shuffles (visible first). */
export function fromShuffle(idsShuffle: Int32Array, batch: number, tokens: number, keep: number): Masking {
  const idsRestore = new Int32Array(batch * tokens);
  const mask = new Float32Array(batch * tokens);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < tokens; i++) {
      const patch = idsShuffle[b * tokens + i];
      idsRestore[b * tokens + patch] = i;
      mask[b * tokens + patch] = i < keep ? 0 : 1;
    }
  }
  return { batch, tokens, keep, idsShuffle, idsRestore, mask };
}

/** The visible-first indices [B·keep] (the ids_keep of MAE). */
export function visibleIndices(m: Masking): Int32Array {
  const out = new Int32Array(m.batch * m.keep);
  for (let b = 0; b < m.batch; b++) out.set(m.idsShuffle.subarray(b * m.tokens, b * m.tokens + m.keep), b * m.keep);
  return out;
}

/** Argsort of uniform noise (ties are impossible in practice; broken by index). */
function randomOrder(rng: Rng, tokens: number): Int32Array {
  const noise = Float64Array.from({ length: tokens }, () => rng.uniform());
  return Int32Array.from({ length: tokens }, (_, i) => i).sort((a, b) => noise[a] - noise[b] || a - b);
}

/** Visible patches in grid order, then removed ones in grid order. */
function orderVisibleFirst(removed: Uint8Array): Int32Array {
  const idx = Array.from(removed.keys());
  return Int32Array.from([...idx.filter((i) => !removed[i]), ...idx.filter((i) => removed[i])]);
}

function gridStride(ratio: number): number {
  return Math.max(1, Math.round(1 / Math.sqrt(1 - ratio)));
}

function gridRemoved(grid: number, stride: number): Uint8Array {
  const removed = new Uint8Array(grid * grid).fill(1);
  for (let r = 0; r < grid; r += stride) for (let c = 0; c < grid; c += stride) removed[r * grid + c] = 0;
  return removed;
}

function blockRemoved(rng: Rng, grid: number, target: number): Uint8Array {
  const removed = new Uint8Array(grid * grid);
  let count = 0;
  while (count < target) {
    // One rectangle of area ≈ U(4, max(4, target − count)) patches, log-uniform aspect ratio in [0.3, 1/0.3].
    const area = rng.range(Math.min(4, target - count), Math.max(4, target - count));
    const aspect = Math.exp(rng.range(Math.log(0.3), Math.log(1 / 0.3)));
    const h = Math.max(1, Math.min(grid, Math.round(Math.sqrt(area * aspect))));
    const w = Math.max(1, Math.min(grid, Math.round(Math.sqrt(area / aspect))));
    const top = rng.int(grid - h + 1);
    const left = rng.int(grid - w + 1);
    const added: number[] = [];
    for (let r = top; r < top + h; r++) {
      for (let c = left; c < left + w; c++) {
        if (!removed[r * grid + c]) {
          removed[r * grid + c] = 1;
          added.push(r * grid + c);
        }
      }
    }
    count += added.length;
    // Overshoot: put back random patches of this rectangle so exactly `target` are removed.
    while (count > target) {
      const j = rng.int(added.length);
      removed[added[j]] = 0;
      added.splice(j, 1);
      count--;
    }
  }
  return removed;
}
