/**
 * Training dynamics of the MAGMA graph (SPEC §2): for the reference layer's representations of
 * each batch, γ (every step), and every N steps the spectrum of the normalized Laplacian L (λ2,
 * spectral gap, Laplacian energy) with the change of L and of the affinity W since the previous
 * step. The metrics are computed for every method, so MAE and M-MAE can be compared.
 */
import * as tf from '@tensorflow/tfjs';
import { laplacianSpectrum } from '../eval/spectrum';
import { magmaGraph, type MagmaOptions } from '../losses/index';

/** The Laplacian metrics of one step. */
export interface DynamicsRecord {
  /** Second-smallest eigenvalue of L. */
  lambda2: number;
  /** λ2 − λ1. */
  spectralGap: number;
  /** Σ|λ_i − 1|. */
  laplacianEnergy: number;
  /** ‖L_t − L_{t−1}‖_F (null when the previous step is unknown, e.g. right after resuming, or had another batch size). */
  laplacianChange: number | null;
  /** ‖W_t − W_{t−1}‖_F (same conditions). */
  affinityChange: number | null;
}

/** Follows the graph of one layer from step to step. */
export class LaplacianTracker {
  private previous?: { laplacian: tf.Tensor2D; affinity: tf.Tensor2D };

  constructor(private readonly options: MagmaOptions) {}

  /**
   * Builds the graph of representations `x` [B, D] (no gradient). Returns γ, and the full metrics
   * when `withSpectrum`. The graph needs B ≥ 3 (SPEC §2); a smaller batch (which plain MAE may
   * train with) returns nothing and forgets the previous graph.
   */
  update(x: tf.Tensor2D, withSpectrum: boolean): { gamma?: number; dynamics?: DynamicsRecord } {
    if (x.shape[0] < 3) {
      this.dispose();
      return {};
    }
    const graph = tf.tidy(() => magmaGraph(x, this.options));
    const gamma = graph.gamma.dataSync()[0];
    let dynamics: DynamicsRecord | undefined;
    if (withSpectrum) {
      const spectrum = laplacianSpectrum(graph.laplacian);
      const change = (a: tf.Tensor2D, b?: tf.Tensor2D) =>
        b && b.shape[0] === a.shape[0] ? tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]) : null;
      dynamics = {
        lambda2: spectrum.lambda2, spectralGap: spectrum.spectralGap, laplacianEnergy: spectrum.laplacianEnergy,
        laplacianChange: change(graph.laplacian, this.previous?.laplacian),
        affinityChange: change(graph.affinity, this.previous?.affinity),
      };
    }
    this.dispose();
    this.previous = { laplacian: graph.laplacian, affinity: graph.affinity };
    graph.gamma.dispose();
    return { gamma, dynamics };
  }

  /** Frees the previous step's graph. */
  dispose(): void {
    if (this.previous) tf.dispose([this.previous.laplacian, this.previous.affinity]);
    this.previous = undefined;
  }
}
