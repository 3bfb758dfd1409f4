/**
 * `show.similarity`: MAGMA's batch graph of one layer. The affinity W as a heatmap (rows sorted by
 * label when labels are given, so class blocks show) beside the eigenvalues of the normalized
 * Laplacian L, with γ, λ₂, the spectral gap and the Laplacian energy.
 */
import * as tf from '@tensorflow/tfjs';
import { laplacianSpectrum } from '../eval/spectrum';
import { magmaGraph, type MagmaOptions } from '../losses/magma';
import type { DisplayBundle } from './bundle';
import { chartBundle, type VegaLiteSpec } from './chart';

/** Options of {@link similarity}: the graph's own options, plus how to draw it. */
export interface SimilarityOptions extends MagmaOptions {
  /** One label per row of x: rows and columns of W are sorted by it. */
  labels?: ArrayLike<number>;
  /** W larger than this many rows is averaged in blocks down to this side. Default 64. */
  maxSide?: number;
}

/** Representations as plain numbers: [B·D] row-major and their shape. */
export interface Matrix {
  values: ArrayLike<number>;
  shape: [number, number];
}

/** Averages a side×side matrix (rows/columns in `order`) in blocks down to at most `max`×`max`. */
function pooled(w: Float32Array, side: number, order: number[], max: number): { i: number; j: number; w: number }[] {
  const bins = Math.min(side, max);
  const edge = (b: number) => Math.floor((b * side) / bins);
  const cells: { i: number; j: number; w: number }[] = [];
  for (let bi = 0; bi < bins; bi++) {
    for (let bj = 0; bj < bins; bj++) {
      let sum = 0;
      for (let r = edge(bi); r < edge(bi + 1); r++) for (let c = edge(bj); c < edge(bj + 1); c++) sum += w[order[r] * side + order[c]];
      cells.push({ i: bi, j: bj, w: sum / ((edge(bi + 1) - edge(bi)) * (edge(bj + 1) - edge(bj))) });
    }
  }
  return cells;
}

/**
 * The batch affinity W of representations x and the spectrum of its Laplacian (vega-lite + PNG).
 * @param x [B, D] representations of one layer, e.g. the mean patch token of a block's output
 * @example await show.similarity(tokensMean, {labels: batch.labels})
 */
export async function similarity(x: tf.Tensor2D | Matrix, opts: SimilarityOptions = {}): Promise<DisplayBundle> {
  const { labels, maxSide = 64, ...graphOptions } = opts;
  const { affinity, laplacian, gamma, side } = tf.tidy(() => {
    const input = x instanceof tf.Tensor ? x : tf.tensor2d(Float32Array.from(x.values), x.shape);
    const g = magmaGraph(input, graphOptions);
    return { affinity: g.affinity.dataSync() as Float32Array, laplacian: g.laplacian.dataSync() as Float32Array, gamma: g.gamma.dataSync()[0], side: input.shape[0] };
  });
  if (labels && labels.length !== side) throw new Error(`${labels.length} labels for ${side} rows of x`);
  const order = Array.from({ length: side }, (_, i) => i);
  if (labels) order.sort((a, b) => labels[a] - labels[b] || a - b);
  const { eigenvalues, lambda2, spectralGap, laplacianEnergy } = laplacianSpectrum(laplacian, side);
  const summary = `γ = ${gamma.toPrecision(4)}, λ₂ = ${lambda2.toPrecision(4)}, gap = ${spectralGap.toPrecision(4)}, energy = ${laplacianEnergy.toPrecision(4)}`;
  const pooledNote = side > maxSide ? `, ${maxSide}×${maxSide} block means` : '';
  const spec: VegaLiteSpec = {
    title: { text: `batch graph of ${side} samples: ${summary}`, anchor: 'start' },
    hconcat: [
      // The spectrum first: the colour bar of W is drawn right of the whole row, next to its heatmap.
      {
        title: 'eigenvalues of the Laplacian L',
        data: { values: Array.from(eigenvalues, (v, k) => ({ index: k + 1, eigenvalue: v })) },
        width: 260,
        height: 260,
        mark: { type: 'line', point: side <= 64 },
        encoding: {
          x: { field: 'index', type: 'quantitative', title: 'i' },
          y: { field: 'eigenvalue', type: 'quantitative', title: 'λᵢ' },
        },
      },
      {
        title: `affinity W${labels ? ' (sorted by label)' : ''}${pooledNote}`,
        data: { values: pooled(affinity, side, order, maxSide) },
        width: 260,
        height: 260,
        mark: 'rect',
        encoding: {
          x: { field: 'j', type: 'ordinal', axis: null },
          y: { field: 'i', type: 'ordinal', axis: null },
          color: { field: 'w', type: 'quantitative', title: 'W', scale: { scheme: 'viridis' } },
        },
      },
    ],
  };
  return chartBundle(spec, `batch graph of ${side} samples: ${summary}`);
}
