/**
 * Training methods (SPEC §3): which losses one step combines, and on which representations.
 *
 * Every method splits its loss in two kinds of terms, so that gradient accumulation stays exact:
 * - per-sample terms (`sampleLosses`): means over the images of a micro-batch (MAE's
 *   reconstruction), which average correctly over equal micro-batches;
 * - batch-wide terms (`batchTerms`) that couple all images of the batch (MAGMA's B×B graph,
 *   uniformity, NT-Xent, VICReg), computed on per-sample `representations` [B, D] pooled over the
 *   whole batch. The trainer differentiates them w.r.t. the pooled representations and feeds those
 *   gradients back through each micro-batch (../shared/research/BACKEND.md's two-pass scheme).
 *
 * | method | per-sample | batch-wide | backbone input |
 * |---|---|---|---|
 * | mae, m-mae, u-mae, mu-mae | reconstruction | + λ·MAGMA (m-), + w·uniformity (u-) | masked images |
 * | simclr, m-simclr, vicreg, m-vicreg | – | NT-Xent or VICReg of two views, + λ·MAGMA (m-) | two augmented views, unmasked |
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../config';
import { colorJitter, randomGrayscale } from '../data/color';
import { compose, horizontalFlip, randomResizedCrop } from '../data/augment';
import type { Batch, BatchTransform } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import { magma, type MagmaOptions as MagmaLossOptions, ntXent, uniformity, vicreg } from '../losses/index';
import { clsToken, type EncoderOutput, type Mae, meanPatchTokens } from '../nn/mae';
import type { Masking } from '../nn/masking';
import { type Param, ParamStore } from '../nn/params';
import { createProjector, project, type Projector } from '../nn/projector';
import { Rng } from '../random';
import { lambdaAt, type LambdaSchedule } from './schedules';

/** Names of the methods the trainer and the CLI accept. */
export const methodNames = ['mae', 'm-mae', 'u-mae', 'mu-mae', 'simclr', 'm-simclr', 'vicreg', 'm-vicreg'] as const;
/** A method's name. */
export type MethodName = (typeof methodNames)[number];

/** Whether a method trains on two augmented views (SimCLR, VICReg and their MAGMA variants) rather than masked images. */
export function isTwoView(name: MethodName): boolean {
  return !name.endsWith('mae');
}

/** Whether a two-view method is contrastive (NT-Xent) rather than VICReg. */
export function isContrastive(name: MethodName): boolean {
  return name === 'simclr' || name === 'm-simclr';
}

/** MAGMA settings with every default filled in (block indices 0-based and non-negative). */
export interface MagmaSettings extends MagmaLossOptions {
  /** Reference blocks k; each contributes L_MAGMA(Z_k, Z_target). */
  reference: number[];
  /** Target block l. */
  target: number;
  /** λ per epoch. */
  schedule: LambdaSchedule;
  /**
   * The run length, in epochs, the schedule is written for. When set, the schedule is stretched over
   * this run's `totalSteps` (see {@link scheduleEpochOf}); otherwise it reads the run's own epochs.
   */
  scheduleEpochs?: number;
}

/** Everything a method needs besides the model (resolved trainer options). */
export interface MethodSettings {
  method: MethodName;
  seed: number;
  magma: MagmaSettings;
  /** Weight of the uniformity term of u-mae / mu-mae. */
  uniformityWeight: number;
  /** NT-Xent temperature τ. */
  temperature: number;
  /** Projector of the two-view methods. */
  projector: { hidden: number; output: number };
  /** VICReg weights. */
  vicreg: { sim: number; variance: number; covariance: number };
}

/** One micro-batch with its random choices (masks, augmented views) fixed, ready for forward passes. */
export interface PreparedBatch {
  size: number;
  /** Input tensors owned by this micro-batch (disposed by {@link Method.release}). */
  inputs: tf.Tensor4D[];
  masking?: Masking;
}

/** What a forward pass of one micro-batch gives. */
export interface Forward {
  /** Means over the micro-batch's images, e.g. `{reconstruction}`. */
  sampleLosses: Record<string, tf.Scalar>;
  /** Per-sample rows [b, D], in image order: what the batch-wide terms and the dynamics use. */
  representations: Record<string, tf.Tensor2D>;
}

/** The batch-wide terms: their weighted sum and the unweighted parts. */
export interface BatchTerms {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

/** A training method bound to a model. */
export interface Method {
  readonly name: MethodName;
  /** Trainable parameters the method adds (the projector), besides the model's. */
  readonly params: Param[];
  /** Representations the batch-wide terms read (empty: the method has none). */
  readonly batchKeys: string[];
  /** The fewest images the batch-wide terms are defined on (MAGMA's graph needs 3, VICReg's variance 2). */
  readonly minBatch: number;
  /** The representation whose γ each step records (the first reference block's). */
  readonly gammaKey: string;
  /** Whether the encoder sees masked images (the MAE family) rather than whole augmented views. */
  readonly masked: boolean;
  /** λ of the MAGMA term at an epoch, or undefined for methods without it. */
  lambda(epoch: number): number | undefined;
  /** Draws the micro-batch's random choices and makes its input tensors (outside the gradient tape). */
  prepare(batch: Batch | tf.Tensor4D, rng: Rng): PreparedBatch;
  /** Forward pass; with `representationsOnly`, per-sample losses are skipped (e.g. no decoder). */
  forward(p: PreparedBatch, representationsOnly?: boolean): Forward;
  /** The batch-wide terms of (pooled) representations at an epoch. */
  batchTerms(representations: Record<string, tf.Tensor2D>, epoch: number): BatchTerms;
  /** Frees a prepared micro-batch. */
  release(p: PreparedBatch): void;
}

const blockKey = (k: number) => `block${k}`;

/** Shared by all methods: the MAGMA representations of an encoder pass and the MAGMA term. */
class MagmaTerm {
  readonly keys: string[];

  constructor(readonly settings: MagmaSettings, readonly enabled: boolean) {
    this.keys = [...settings.reference, settings.target].map(blockKey);
  }

  /** Mean patch tokens of the reference and target blocks. */
  representations(enc: EncoderOutput): Record<string, tf.Tensor2D> {
    return Object.fromEntries([...this.settings.reference, this.settings.target].map((k) => [blockKey(k), meanPatchTokens(enc.blocks[k])]));
  }

  /** Σ_k L_MAGMA(Z_k, Z_target) / (number of reference blocks), as the official code divides. */
  value(reps: Record<string, tf.Tensor2D>): tf.Scalar {
    const y = reps[blockKey(this.settings.target)];
    const terms = this.settings.reference.map((k) => magma(reps[blockKey(k)], y, this.settings));
    return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
  }

  lambda(epoch: number): number | undefined {
    return this.enabled ? lambdaAt(this.settings.schedule, epoch) : undefined;
  }
}

/** MAE and its regularized variants: masked reconstruction (+ MAGMA) (+ uniformity). */
class MaeMethod implements Method {
  readonly params: Param[] = [];
  readonly batchKeys: string[];
  readonly minBatch: number;
  readonly gammaKey: string;
  readonly masked = true;
  private readonly magmaTerm: MagmaTerm;

  constructor(readonly name: MethodName, private readonly model: Mae, private readonly s: MethodSettings) {
    this.magmaTerm = new MagmaTerm(s.magma, name === 'm-mae' || name === 'mu-mae');
    this.gammaKey = this.magmaTerm.keys[0];
    this.batchKeys = [...(this.magmaTerm.enabled ? this.magmaTerm.keys : []), ...(this.uniform ? ['cls'] : [])];
    this.minBatch = this.magmaTerm.enabled ? 3 : 1;
  }

  private get uniform(): boolean {
    return this.name === 'u-mae' || this.name === 'mu-mae';
  }

  lambda(epoch: number): number | undefined {
    return this.magmaTerm.lambda(epoch);
  }

  prepare(batch: Batch | tf.Tensor4D, rng: Rng): PreparedBatch {
    const images = batch instanceof tf.Tensor ? tf.clone(batch) : batchToTensor(batch);
    return { size: images.shape[0], inputs: [images], masking: this.model.randomMasking(rng, images.shape[0]) };
  }

  forward(p: PreparedBatch, representationsOnly = false): Forward {
    const [images] = p.inputs;
    const enc = this.model.forwardEncoder(images, p.masking!);
    const representations = { ...this.magmaTerm.representations(enc), cls: clsToken(enc.latent) };
    if (representationsOnly) return { sampleLosses: {}, representations };
    const pred = this.model.forwardDecoder(enc.latent, p.masking!);
    return { sampleLosses: { reconstruction: this.model.forwardLoss(images, pred, p.masking!) }, representations };
  }

  batchTerms(reps: Record<string, tf.Tensor2D>, epoch: number): BatchTerms {
    const parts: Record<string, tf.Scalar> = {};
    const weighted: tf.Scalar[] = [];
    if (this.magmaTerm.enabled) {
      parts.magma = this.magmaTerm.value(reps);
      weighted.push(tf.mul(parts.magma, this.lambda(epoch)!));
    }
    if (this.uniform) {
      parts.uniformity = uniformity(reps.cls);
      weighted.push(tf.mul(parts.uniformity, this.s.uniformityWeight));
    }
    return { total: weighted.length ? (tf.addN(weighted) as tf.Scalar) : tf.scalar(0), parts };
  }

  release(p: PreparedBatch): void {
    tf.dispose(p.inputs);
  }
}

/** SimCLR / VICReg (+ MAGMA on the first view): an unmasked ViT backbone, two augmented views, an MLP projector. */
class TwoViewMethod implements Method {
  readonly params: Param[];
  readonly batchKeys: string[];
  readonly minBatch: number;
  readonly gammaKey: string;
  readonly masked = false;
  private readonly projector: Projector;
  private readonly magmaTerm: MagmaTerm;
  private readonly contrastive: boolean;

  constructor(readonly name: MethodName, private readonly model: Mae, private readonly s: MethodSettings) {
    this.contrastive = isContrastive(name);
    this.magmaTerm = new MagmaTerm(s.magma, name.startsWith('m-'));
    this.gammaKey = this.magmaTerm.keys[0];
    this.batchKeys = ['z1', 'z2', ...(this.magmaTerm.enabled ? this.magmaTerm.keys : [])];
    this.minBatch = this.magmaTerm.enabled ? 3 : 2;
    const store = new ParamStore(new Rng(s.seed, 0x960));
    this.projector = createProjector(store, model.config.encoderWidth, this.contrastive
      ? { ...s.projector, hiddenLayers: 1, batchNorm: false } // solo-learn SimCLR: Linear → ReLU → Linear
      : { ...s.projector, hiddenLayers: 2, batchNorm: true }); // solo-learn VICReg: (Linear → BN → ReLU) × 2 → Linear
    this.params = store.params;
  }

  lambda(epoch: number): number | undefined {
    return this.magmaTerm.lambda(epoch);
  }

  /** The views' augmentation: crop (0.08–1) and flip, plus color jitter and grayscale for RGB. */
  private augmentation(channels: number): BatchTransform {
    const geometric = [randomResizedCrop({ scale: [0.08, 1] }), horizontalFlip()];
    return channels === 3 ? compose(...geometric, colorJitter(), randomGrayscale()) : compose(...geometric);
  }

  prepare(batch: Batch | tf.Tensor4D, rng: Rng): PreparedBatch {
    check(!(batch instanceof tf.Tensor), `${this.name} augments two views of uint8 images: pass batches from a Dataset (dataset.batches(...)), not a tensor`);
    const augment = this.augmentation(batch.shape[3]);
    const inputs = [batchToTensor(augment(batch, rng)), batchToTensor(augment(batch, rng))];
    return { size: batch.shape[0], inputs };
  }

  forward(p: PreparedBatch): Forward {
    const [first, second] = p.inputs.map((view) => this.model.forwardEncoder(view, null));
    const representations: Record<string, tf.Tensor2D> = {
      z1: project(this.projector, clsToken(first.latent)),
      z2: project(this.projector, clsToken(second.latent)),
      ...this.magmaTerm.representations(first),
    };
    return { sampleLosses: {}, representations };
  }

  batchTerms(reps: Record<string, tf.Tensor2D>, epoch: number): BatchTerms {
    const n = reps.z1.shape[0];
    const parts: Record<string, tf.Scalar> = {};
    if (this.contrastive) {
      const indexes = Int32Array.from({ length: 2 * n }, (_, i) => i % n); // rows i and i + n are the same image
      parts.ntXent = ntXent(tf.concat([reps.z1, reps.z2], 0) as tf.Tensor2D, indexes, this.s.temperature);
    } else {
      parts.vicreg = vicreg(reps.z1, reps.z2, this.s.vicreg);
    }
    let total = this.contrastive ? parts.ntXent : parts.vicreg;
    if (this.magmaTerm.enabled) {
      parts.magma = this.magmaTerm.value(reps);
      total = tf.add(total, tf.mul(parts.magma, this.lambda(epoch)!));
    }
    return { total, parts };
  }

  release(p: PreparedBatch): void {
    tf.dispose(p.inputs);
  }
}

/** Binds a method to a model. `s` is as {@link resolveTrainerOptions} resolves and checks it. */
export function createMethod(model: Mae, s: MethodSettings): Method {
  return isTwoView(s.method) ? new TwoViewMethod(s.method, model, s) : new MaeMethod(s.method, model, s);
}
