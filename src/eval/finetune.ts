/**
 * Fine-tuning of a pre-trained encoder for classification, end to end or in part, with MAE's
 * recipe scaled down (He et al. 2021, §A.2 / main_finetune.py): a linear head on the mean patch
 * token through a fresh LayerNorm (main_finetune.py's default global pooling), or on the CLS token,
 * AdamW (β 0.9, 0.999, weight decay 0.05), layer-wise lr decay
 * 0.75, linear warm-up then a half cosine, label smoothing 0.1, and random-resized crop + flip.
 * Drop-path and mixup/cutmix are not implemented. `init: 'random'` trains the same ViT from
 * scratch, MAE §4's baseline.
 *
 * The given model is never changed: a copy is fine-tuned and returned with its head.
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../config';
import { compose, horizontalFlip, randomResizedCrop } from '../data/augment';
import type { Dataset } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import { layerNorm, linear } from '../nn/layers';
import { clsToken, Mae, meanPatchTokens } from '../nn/mae';
import { type LinearParams, type Param, ParamStore } from '../nn/params';
import { interruptible, yieldToEventLoop } from '../interrupt';
import { Rng } from '../random';
import { warmupCosineLr } from '../train/lr';
import { AdamW } from '../train/optimizer';

/**
 * What trains: `0` the head alone (MAE's linear probing: a BatchNorm without affine parameters and
 * the head on the frozen encoder), `'mlp'` the last block's MLP (MAE's Fig. 9), `k` the last k
 * blocks, `'all'` everything. The final LayerNorm trains with any block; the decoder never does.
 */
export type FinetuneBlocks = 0 | 'mlp' | number | 'all';

/** Options of {@link finetune}; every default is MAE's fine-tuning recipe unless said. */
export interface FinetuneOptions {
  /** Default `'all'`. */
  blocks?: FinetuneBlocks;
  /** `'pretrained'` (default) starts from the model's weights, `'random'` from a fresh initialization of the same config. */
  init?: 'pretrained' | 'random';
  /**
   * The head's input: `'mean'` (default, as main_finetune.py's global pooling) the mean patch token
   * of the last block through a fresh LayerNorm (`fc_norm`, which replaces the final one and trains
   * with the head unless the encoder is frozen), or `'cls'` the CLS token after the final LayerNorm.
   */
  pool?: 'cls' | 'mean';
  /** Passes over the train set. Default 10 (MAE: 100 for ViT-B). */
  epochs?: number;
  /** Default 128. */
  batchSize?: number;
  /** Learning rate per 256 images: peak lr = baseLr × batchSize / 256. Default 5e-4 (MAE's blr for ViT-B). */
  baseLr?: number;
  /** Default 0.05. */
  weightDecay?: number;
  /** Layer-wise lr decay: block i of D gets decay^(D − i) of the head's lr, the embeddings decay^(D+1). Default 0.75. */
  layerDecay?: number;
  /** Epochs of linear warm-up. Default epochs / 20 (MAE: 5 of 100). */
  warmupEpochs?: number;
  /** Default 0.1. */
  labelSmoothing?: number;
  /** Random-resized crop (scale 0.08–1, torchvision's) and horizontal flip of the train images. Default true. */
  augment?: boolean;
  /** Seed of the head's initialization, the data order and augmentation (and of `init: 'random'`). Default 0. */
  seed?: number;
  /** Called after each step with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link finetune} returns; the caller disposes it. */
export interface FinetuneResult {
  /** Top-1 accuracy on the test set, a fraction in [0, 1]. */
  accuracy: number;
  /** One entry per epoch: the mean train loss (with label smoothing) and the lr at its end. */
  history: { epoch: number; loss: number; lr: number }[];
  /** The names of the parameters that trained (the head's are `head.weight`, `head.bias`). */
  trained: string[];
  /** Every choice made, in words. */
  recipe: string;
  /** The fine-tuned copy of the encoder, and its head ([D, classes] weight and [classes] bias). */
  model: Mae;
  head: LinearParams;
  /** Class logits [B, classes] of images (standardized as the data's batches). */
  logits(images: tf.Tensor4D): tf.Tensor2D;
  /** Frees the copy and the head. */
  dispose(): void;
}

/** The parameters of `model`'s encoder that train for a `blocks` setting. */
export function trainableParams(model: Mae, blocks: FinetuneBlocks): Param[] {
  const depth = model.config.encoderDepth;
  const k = blocks === 'all' ? depth : blocks;
  check(k === 'mlp' || (Number.isInteger(k) && k >= 0), `blocks must be 0, 'mlp', a number of blocks from the top or 'all', got ${JSON.stringify(blocks)}`);
  if (k === 0) return [];
  const lastBlocks = k === 'mlp' ? [] : Array.from({ length: Math.min(k, depth) }, (_, i) => depth - 1 - i);
  const wanted = (name: string) =>
    name.startsWith('norm.') ||
    (k === 'mlp' && name.startsWith(`blocks.${depth - 1}.mlp.`)) ||
    lastBlocks.some((b) => name.startsWith(`blocks.${b}.`)) ||
    (k !== 'mlp' && k >= depth && (name.startsWith('patch_embed.') || name === 'cls_token'));
  return model.params.filter((p) => wanted(p.name));
}

/** The lr factor of a parameter under layer-wise decay: embeddings 0, block i → i + 1, final norm and head D + 1. */
function layerScale(name: string, depth: number, decay: number): number {
  const block = /^blocks\.(\d+)\./.exec(name);
  const layer = block ? Number(block[1]) + 1 : name.startsWith('patch_embed.') || name === 'cls_token' ? 0 : depth + 1;
  return decay ** (depth + 1 - layer);
}

/**
 * Fine-tunes a copy of `model` with a new linear head on `train`, and measures its top-1 on `test`.
 * @example const r = await ml.eval.finetune(model, data, { blocks: 1, epochs: 5 }); r.accuracy; r.dispose();
 */
export function finetune(model: Mae, data: FinetuneData, opts: FinetuneOptions = {}): Promise<FinetuneResult> {
  return interruptible(() => finetuneCopy(model, data, opts));
}

/** The labelled splits {@link finetune} trains and tests on. */
type FinetuneData = { train: Dataset; test: Dataset; classNames: string[] };

async function finetuneCopy(model: Mae, data: FinetuneData, opts: FinetuneOptions): Promise<FinetuneResult> {
  const o = {
    blocks: opts.blocks ?? 'all', init: opts.init ?? 'pretrained', pool: opts.pool ?? 'mean', epochs: opts.epochs ?? 10,
    batchSize: opts.batchSize ?? 128, baseLr: opts.baseLr ?? 5e-4, weightDecay: opts.weightDecay ?? 0.05, layerDecay: opts.layerDecay ?? 0.75,
    labelSmoothing: opts.labelSmoothing ?? 0.1, augment: opts.augment ?? true, seed: opts.seed ?? 0,
  };
  const warmupEpochs = opts.warmupEpochs ?? o.epochs / 20;
  check(o.epochs > 0 && Number.isFinite(o.epochs), `epochs must be a number > 0, got ${o.epochs}`);
  check(Number.isInteger(o.batchSize) && o.batchSize > 0, `batchSize must be a positive integer, got ${o.batchSize}`);
  check(o.labelSmoothing >= 0 && o.labelSmoothing < 1, `labelSmoothing must be in [0, 1), got ${o.labelSmoothing}`);
  check(o.layerDecay > 0 && o.layerDecay <= 1, `layerDecay must be in (0, 1], got ${o.layerDecay}`);
  check(o.init === 'pretrained' || o.init === 'random', `init must be 'pretrained' or 'random', got '${o.init}'`);
  check(o.pool === 'cls' || o.pool === 'mean', `pool must be 'cls' or 'mean', got '${o.pool}'`);
  const classes = data.classNames.length;
  check(classes >= 2, `fine-tuning needs labelled data with at least 2 classes; ${data.train.name} has ${classes}`);
  const perEpoch = data.train.numBatches(o.batchSize);
  check(perEpoch > 0, `batch size ${o.batchSize} is larger than ${data.train.name} (${data.train.size} images); lower batchSize`);
  check(data.test.size > 0, `${data.test.name} has no images to measure the fine-tuned model on`);
  for (const split of [data.train, data.test]) {
    const bad = split.labels.findIndex((l) => !(l >= 0 && l < classes));
    check(bad < 0, `${split.name}: image ${bad} has label ${split.labels[bad]}, outside 0..${classes - 1}; fine-tuning needs every image labelled`);
  }

  // The copy: the same encoder (classification needs no decoder), the pre-trained weights copied
  // in (or left at a fresh init). The encoder's parameters come first in both, in the same order.
  const net = new Mae(model.config, o.seed, { decoder: false });
  if (o.init === 'pretrained') net.params.forEach((p, i) => p.variable.assign(model.params[i].variable));
  const store = new ParamStore(new Rng(o.seed, 0x4ead));
  const head: LinearParams = {
    weight: store.normal('head.weight', [model.config.encoderWidth, classes], 2e-5, true), // MAE: trunc_normal(std=2e-5)
    bias: store.constant('head.bias', [classes], 0),
  };
  // Global pooling (MAE's fine-tuning default): the mean patch token of the last block through a
  // fresh LayerNorm, fc_norm (ε 1e-6), in place of the final one, which then has nothing to learn.
  const fcNorm = o.pool === 'mean' ? store.layerNorm('fc_norm', model.config.encoderWidth) : null;
  const encoderParams = trainableParams(net, o.init === 'random' ? 'all' : o.blocks).filter((p) => o.pool === 'cls' || !p.name.startsWith('norm.'));
  // With the encoder frozen (MAE's linear probing), fc_norm stays at its initialization too.
  const frozenEncoder = encoderParams.length === 0;
  const trained = [...encoderParams, ...store.params.filter((p) => !(frozenEncoder && p.name.startsWith('fc_norm.')))];
  const depth = model.config.encoderDepth;
  const optimizer = new AdamW(trained, {
    betas: [0.9, 0.999], weightDecay: o.weightDecay,
    lrScales: new Map(trained.map((p) => [p.name, layerScale(p.name, depth, o.layerDecay)])),
  });
  const pooled = (images: tf.Tensor4D) => {
    const out = net.forwardEncoder(images, null);
    return fcNorm ? layerNorm(meanPatchTokens(out.blocks[depth - 1]), fcNorm, 1e-6) : clsToken(out.latent);
  };
  // With a frozen encoder (blocks 0), MAE's linear probing puts a BatchNorm without affine
  // parameters before the head: frozen features vary little between images.
  const probeNorm = frozenEncoder ? new BatchNormNoAffine(model.config.encoderWidth) : null;
  const logits = (images: tf.Tensor4D, training = false) => tf.tidy(() => {
    const h = pooled(images);
    return linear(probeNorm ? probeNorm.apply(h, training) : h, head) as tf.Tensor2D;
  });
  const dispose = () => {
    net.dispose();
    optimizer.dispose();
    store.params.forEach((p) => p.variable.dispose());
  };

  try {
    const total = Math.max(1, Math.round(o.epochs * perEpoch));
    const peak = (o.baseLr * o.batchSize) / 256;
    const schedule = { peak, warmupSteps: Math.round(warmupEpochs * perEpoch), totalSteps: total };
    const transform = o.augment ? compose(randomResizedCrop({ scale: [0.08, 1] }), horizontalFlip()) : undefined;
    const history: FinetuneResult['history'] = [];
    let step = 0;
    for (let epoch = 0; step < total; epoch++) {
      let lossSum = 0;
      let batches = 0;
      let lr = 0;
      for (const batch of data.train.batches(o.batchSize, { seed: o.seed, epoch, transform })) {
        if (step >= total) break;
        await yieldToEventLoop();
        lr = warmupCosineLr(step, schedule);
        const images = batchToTensor(batch);
        const onehot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), classes), 'float32'));
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(onehot, logits(images, true), undefined, o.labelSmoothing) as tf.Scalar,
          trained.map((p) => p.variable),
        );
        lossSum += (await value.data())[0];
        optimizer.apply(new Map(trained.map((p) => [p.name, grads[p.variable.name]])), lr);
        tf.dispose([images, onehot, value, ...Object.values(grads)]);
        batches++;
        step++;
        opts.onProgress?.(step, total);
      }
      history.push({ epoch, loss: lossSum / batches, lr });
    }
    const accuracy = await testAccuracy(data.test, logits);
    const what = o.init === 'random' ? 'trained from scratch (fresh initialization, every block)'
      : o.blocks === 0 ? 'head only (frozen encoder)' : o.blocks === 'mlp' ? `the last block's MLP${fcNorm ? '' : ', the final LayerNorm'} and the head`
        : o.blocks === 'all' || o.blocks >= depth ? 'every encoder parameter and the head' : `the last ${o.blocks} of ${depth} blocks${fcNorm ? '' : ', the final LayerNorm'} and the head`;
    const input = o.pool === 'cls' ? 'CLS token after the final LayerNorm'
      : `mean patch token of the last block through a fresh LayerNorm (fc_norm, ε 1e-6${frozenEncoder ? ', frozen' : ', trained'})`;
    const recipe = `fine-tuning: ${what}; linear head on the ${input}` +
      `${probeNorm ? ' through a BatchNorm without affine parameters (eps 1e-6, momentum 0.1; MAE\'s linear probing)' : ''} ` +
      `(W ~ N(0, 2e-5²), b = 0); AdamW (β 0.9, 0.999, weight decay ${o.weightDecay} on weights only), peak lr ${peak.toExponential(2)} ` +
      `(base ${o.baseLr} × ${o.batchSize}/256), layer-wise decay ${o.layerDecay}, ${warmupEpochs} warm-up epochs then a half cosine to 0; ` +
      `label smoothing ${o.labelSmoothing}; ${o.augment ? 'random-resized crop (scale 0.08–1) + horizontal flip' : 'no augmentation'}; ` +
      `${o.epochs} epochs × ${perEpoch} steps of ${o.batchSize}; no drop-path, mixup or cutmix; seed ${o.seed}`;
    return { accuracy, history, trained: trained.map((p) => p.name), recipe, model: net, head, logits, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * torch's BatchNorm1d(affine=False, eps=1e-6): batch statistics while training (running averages
 * updated with momentum 0.1, the variance unbiased), the running averages at test time.
 */
class BatchNormNoAffine {
  private readonly mean: Float32Array;
  private readonly variance: Float32Array;

  constructor(dim: number) {
    this.mean = new Float32Array(dim);
    this.variance = new Float32Array(dim).fill(1);
  }

  /** Standardizes [B, D]. */
  apply(h: tf.Tensor2D, training: boolean): tf.Tensor2D {
    if (!training) return tf.div(tf.sub(h, tf.tensor1d(this.mean)), tf.sqrt(tf.add(tf.tensor1d(this.variance), 1e-6))) as tf.Tensor2D;
    const { mean, variance } = tf.moments(h, 0); //                                           biased, [D]
    const n = h.shape[0];
    const [m, v] = [mean.dataSync(), variance.dataSync()];
    for (let j = 0; j < this.mean.length; j++) {
      this.mean[j] = 0.9 * this.mean[j] + 0.1 * m[j];
      this.variance[j] = 0.9 * this.variance[j] + 0.1 * v[j] * (n > 1 ? n / (n - 1) : 1);
    }
    return tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-6))) as tf.Tensor2D;
  }
}

/** Top-1 accuracy of `logits` over a dataset, in batches of 256, without augmentation. */
async function testAccuracy(test: Dataset, logits: (images: tf.Tensor4D) => tf.Tensor2D): Promise<number> {
  let correct = 0;
  for (const batch of test.batches(256, { seed: 0, shuffle: false })) {
    await yieldToEventLoop();
    const predicted = tf.tidy(() => tf.argMax(logits(batchToTensor(batch)), 1));
    const values = await predicted.data();
    predicted.dispose();
    values.forEach((v, i) => { if (v === batch.labels[i]) correct++; });
  }
  return correct / test.size;
}
