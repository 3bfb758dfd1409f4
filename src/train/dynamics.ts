/**
 * Training dynamics measured on a fixed probe batch: the same held-out images (and, for the
 * masked methods, the same masks) every time, so that a change between two measurements is a
 * change of the model, not of the images. For each MAGMA reference block: γ, the spectrum of
 * the normalized Laplacian L of its graph (λ2, spectral gap, Laplacian energy; SPEC §2), the
 * change of L and of the affinity W since the previous measurement, and the mean norm of its
 * representations; for the whole encoder: every block's representation norm, the CLS feature
 * norm and the uniformity of the CLS features (SPEC §3). Every method gets them, MAE included,
 * so the arms of an experiment can be compared.
 */
import * as tf from '@tensorflow/tfjs';
import { featureMatrix, featureNorms } from '../eval/representations';
import { laplacianSpectrum } from '../eval/spectrum';
import { magmaGraph, type MagmaOptions, uniformity } from '../losses/index';
import { clsToken, type Mae, meanPatchTokens } from '../nn/mae';
import type { Masking } from '../nn/masking';

/** The graph of one reference block on the probe batch. */
export interface LayerDynamics {
  /** 0-based encoder block. */
  block: number;
  /** γ of the block's graph: the standard deviation of its nonzero squared distances. */
  gamma: number;
  /** Second-smallest eigenvalue of L. */
  lambda2: number;
  /** λ2 − λ1 (λ1 is 0 up to rounding, so this is λ2 here; kept as the official code logs it). */
  spectralGap: number;
  /** Σ|λ_i − 1|. */
  laplacianEnergy: number;
  /** ‖L_t − L_{t−1}‖_F since the previous measurement (null for the first one, e.g. right after a resume). */
  laplacianChange: number | null;
  /** ‖W_t − W_{t−1}‖_F (same conditions). */
  affinityChange: number | null;
  /** Mean L2 norm of the block's representations (mean patch tokens) over the probe images. */
  featureNorm: number;
}

/** One measurement on the probe batch. */
export interface ProbeRecord {
  /** Images in the probe batch. */
  images: number;
  /** The MAGMA reference blocks, in the order of the options. */
  layers: LayerDynamics[];
  /** Mean L2 norm of every encoder block's mean patch token, block 0 first. */
  blockNorms: number[];
  /** Mean L2 norm of the CLS feature (after the final LayerNorm). */
  clsNorm: number;
  /** Uniformity of the CLS features (SPEC §3): 1/B when they are orthogonal, 1 when collapsed to one direction. */
  uniformity: number;
}

/** Follows the graph of one block on the same images from measurement to measurement. */
class GraphTracker {
  private previous?: { laplacian: tf.Tensor2D; affinity: tf.Tensor2D };

  constructor(private readonly options: MagmaOptions) {}

  /** The graph metrics of representations `x` [B, D] (B ≥ 3), compared with the previous call's. */
  update(x: tf.Tensor2D): Omit<LayerDynamics, 'block' | 'featureNorm'> {
    const graph = magmaGraph(x, this.options);
    // A diverging model (weights too large, just before a NaN loss stops training) is recorded as
    // NaN rather than failing the step that measured it.
    const entries = graph.laplacian.dataSync() as Float32Array;
    const spectrum = entries.every(Number.isFinite) ? laplacianSpectrum(entries, x.shape[0])
      : { lambda2: NaN, spectralGap: NaN, laplacianEnergy: NaN };
    const change = (a: tf.Tensor2D, b?: tf.Tensor2D) => (b ? tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]) : null);
    const record = {
      gamma: graph.gamma.dataSync()[0], lambda2: spectrum.lambda2, spectralGap: spectrum.spectralGap, laplacianEnergy: spectrum.laplacianEnergy,
      laplacianChange: change(graph.laplacian, this.previous?.laplacian), affinityChange: change(graph.affinity, this.previous?.affinity),
    };
    this.dispose();
    this.previous = { laplacian: tf.keep(graph.laplacian), affinity: tf.keep(graph.affinity) }; // kept past the caller's tidy
    graph.gamma.dispose();
    return record;
  }

  dispose(): void {
    if (this.previous) tf.dispose([this.previous.laplacian, this.previous.affinity]);
    this.previous = undefined;
  }
}

/** Measures a model on one fixed probe batch. */
export class ProbeDynamics {
  private readonly trackers: GraphTracker[];

  /**
   * @param images [B, H, W, C] standardized held-out images, B ≥ 3 (kept; freed by dispose)
   * @param masking the fixed masks of the masked methods, or null for unmasked input (the two-view methods)
   */
  constructor(private readonly model: Mae, private readonly images: tf.Tensor4D, private readonly masking: Masking | null,
    private readonly reference: number[], options: MagmaOptions) {
    if (images.shape[0] < 3) throw new Error(`the probe batch needs at least 3 images for its graphs, got ${images.shape[0]}`);
    this.trackers = reference.map(() => new GraphTracker(options));
  }

  /** One measurement (no gradient; no tensor outlives it). */
  measure(): ProbeRecord {
    const norm = (t: tf.Tensor2D) => featureNorms(featureMatrix(t)).mean;
    let record: ProbeRecord | undefined;
    tf.tidy(() => {
      const out = this.model.forwardEncoder(this.images, this.masking);
      const blocks = out.blocks.map(meanPatchTokens); // [B, D] each
      const cls = clsToken(out.latent); //                [B, D]
      record = {
        images: this.images.shape[0],
        layers: this.reference.map((block, i) => ({ block, ...this.trackers[i].update(blocks[block]), featureNorm: norm(blocks[block]) })),
        blockNorms: blocks.map(norm), clsNorm: norm(cls), uniformity: uniformity(cls).dataSync()[0],
      };
    });
    return record!;
  }

  /** Frees the probe images and the last graphs. */
  dispose(): void {
    this.trackers.forEach((t) => t.dispose());
    this.images.dispose();
  }
}
