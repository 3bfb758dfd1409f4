/**
 * The masked autoencoder with a ViT backbone (SPEC §1), in one file, step by step as in
 * facebookresearch/mae's models_mae.py: patchify → random_masking → forward_encoder →
 * forward_decoder → forward_loss. B = batch, L = patches per image, K = visible patches,
 * D = encoder width, E = decoder width, P = p·p·C values per patch.
 */
import * as tf from '@tensorflow/tfjs';
import { check, ConfigError, type MaeConfig, type PresetName, resolveConfig } from '../config';
import { maeLoss } from '../losses/mae';
import { Rng } from '../random';
import { broadcastToken, gatherRows, layerNorm, linear } from './layers';
import { type Masking, sampleMasking, visibleIndices } from './masking';
import { type LinearParams, type NormParams, type Param, ParamStore } from './params';
import { patchify, sinCosPositionalEmbedding, sinCosWithClsRow, unpatchify } from './patches';
import { writeSafetensors } from '../safetensors';
import { fileTensors } from './layouts';
import { type BlockParams, createBlock, transformerBlock } from './transformer';

/** The decoder's parameters (E = decoder width). */
interface DecoderParams {
  embed: LinearParams; //     [D, E]
  maskToken: tf.Variable; //  [1, 1, E]
  blocks: BlockParams[];
  norm: NormParams;
  pred: LinearParams; //      [E, P]
  pos: tf.Tensor2D; //        [1+L, E] fixed sin-cos, zero row for CLS
}

/** Where a model's weights were loaded from (see {@link loadPretrained}). */
export interface WeightsOrigin {
  file: string;
  /** The tensor naming of the file. */
  layout: WeightsLayout;
  /** Config fields the file could not tell, with the value taken and why. */
  assumed: string[];
  /** Tensors in the file that the model has no use for (a classification head, say). */
  ignored: string[];
}

/**
 * Tensor naming of a weights file: `mae` is facebookresearch/mae's models_mae.py (the names timm
 * uses), `hf` is Hugging Face transformers' ViTMAEForPreTraining.
 */
export type WeightsLayout = 'mae' | 'hf';

/** What {@link Mae.forwardEncoder} returns. */
export interface EncoderOutput {
  /** [B, 1+K, D] after the final LayerNorm (CLS first). */
  latent: tf.Tensor3D;
  /** Every block's raw output [B, 1+K, D] (before the final LayerNorm): MAGMA's layers. */
  blocks: tf.Tensor3D[];
  /** Every block's attention probabilities [B, H, 1+K, 1+K], when asked for. */
  attention?: tf.Tensor4D[];
}

/** What {@link Mae.representations} returns (the caller disposes the tensors). */
export interface Representations {
  /** For each requested block, the mean of its raw output over the patch tokens, [B, D]. */
  blocks: { block: number; meanPatchTokens: tf.Tensor2D }[];
  /** The CLS token after the final LayerNorm, [B, D]. */
  cls: tf.Tensor2D;
}

/** What {@link Mae.forward} returns. */
export interface MaeOutput {
  /** Scalar reconstruction loss over removed patches. */
  loss: tf.Scalar;
  /** [B, L, P] predicted patches (in the loss's target space: normalized when normPixLoss). */
  pred: tf.Tensor3D;
  encoder: EncoderOutput;
}

/** Options of {@link createMae}. */
export interface CreateMaeOptions {
  /** Seed of the weight initialization. Default 0. */
  seed?: number;
}

/** A ViT masked autoencoder. Create it with {@link createMae}. */
export class Mae {
  /** Patches per image side. */
  readonly grid: number;
  /** Patches per image, L. */
  readonly tokens: number;
  /** Trainable parameters in creation order. */
  readonly params: Param[];

  /** Whether the model has a decoder: not when loaded from an encoder-only checkpoint. */
  readonly hasDecoder: boolean;
  /** Where the weights came from, when they were loaded by {@link loadPretrained}. */
  readonly origin?: WeightsOrigin;

  private readonly patchEmbed: LinearParams; // [P, D], the patch-embedding "conv" as a matrix
  private readonly clsToken: tf.Variable; //     [1, 1, D]
  private readonly encoderMaskToken?: tf.Variable; // [1, 1, D], only with maskTokenInEncoder
  private readonly encoderBlocks: BlockParams[];
  private readonly encoderNorm: NormParams;
  private readonly encoderPos: tf.Tensor2D; //   [L, D] fixed sin-cos
  private readonly decoder?: DecoderParams;

  /**
   * @param seed seed of the weight initialization
   * @param opts.decoder false for an encoder alone (features, attention, PCA; no reconstruction)
   * @param opts.origin where the weights will come from (set by {@link loadPretrained})
   */
  constructor(readonly config: MaeConfig, seed = 0, opts: { decoder?: boolean; origin?: WeightsOrigin } = {}) {
    const c = config;
    this.grid = c.imageSize / c.patchSize;
    this.tokens = this.grid * this.grid;
    this.hasDecoder = opts.decoder ?? true;
    this.origin = opts.origin;
    const patchDim = c.patchSize * c.patchSize * c.channels;
    const store = new ParamStore(new Rng(seed, 0x1417));
    this.patchEmbed = store.linear('patch_embed', patchDim, c.encoderWidth);
    this.clsToken = store.normal('cls_token', [1, 1, c.encoderWidth], 0.02);
    if (c.maskTokenInEncoder) this.encoderMaskToken = store.normal('encoder_mask_token', [1, 1, c.encoderWidth], 0.02);
    this.encoderBlocks = Array.from({ length: c.encoderDepth }, (_, i) =>
      createBlock(store, `blocks.${i}`, c.encoderWidth, c.encoderHeads, c.mlpRatio, c.encoderNormEps));
    this.encoderNorm = store.layerNorm('norm', c.encoderWidth);
    this.encoderPos = tf.tensor2d(sinCosPositionalEmbedding(c.encoderWidth, this.grid), [this.tokens, c.encoderWidth]);
    if (this.hasDecoder) {
      this.decoder = {
        embed: store.linear('decoder_embed', c.encoderWidth, c.decoderWidth),
        maskToken: store.normal('mask_token', [1, 1, c.decoderWidth], 0.02),
        blocks: Array.from({ length: c.decoderDepth }, (_, i) =>
          createBlock(store, `decoder_blocks.${i}`, c.decoderWidth, c.decoderHeads, c.mlpRatio, c.decoderNormEps)),
        norm: store.layerNorm('decoder_norm', c.decoderWidth),
        pred: store.linear('decoder_pred', c.decoderWidth, patchDim),
        pos: tf.tensor2d(sinCosWithClsRow(c.decoderWidth, this.grid), [1 + this.tokens, c.decoderWidth]),
      };
    }
    this.params = store.params;
  }

  /** Number of trainable values (equal to {@link maeParameterCount} of the config). */
  get parameterCount(): number {
    return this.params.reduce((s, p) => s + p.variable.size, 0);
  }

  /** Images [B, H, W, C] → patches [B, L, P]. */
  patchify(images: tf.Tensor4D): tf.Tensor3D {
    return patchify(images, this.config.patchSize);
  }

  /** Patches [B, L, P] → images [B, H, W, C]. */
  unpatchify(patches: tf.Tensor3D): tf.Tensor4D {
    return unpatchify(patches, this.config.patchSize, this.config.channels);
  }

  /** Draws the masks of a batch with the configured ratio and sampling strategy. */
  randomMasking(rng: Rng, batch: number): Masking {
    return sampleMasking(rng, batch, this.grid, this.config.maskRatio, this.config.maskSampling);
  }

  /**
   * Encodes images. With a masking, only the visible patches go in (or, with
   * maskTokenInEncoder, all patches with a mask token at removed places); with `null`, all
   * patches (evaluation). Returns the normalized latent and every block's raw output.
   */
  forwardEncoder(images: tf.Tensor4D, masking: Masking | null, opts: { attention?: boolean } = {}): EncoderOutput {
    this.checkImages(images);
    const batch = images.shape[0];
    check(!masking || (masking.batch === batch && masking.tokens === this.tokens),
      `a masking drawn for ${masking?.batch} images of ${masking?.tokens} patches was given ${batch} images of ${this.tokens} patches; ` +
      `draw it for this batch with model.randomMasking(rng, ${batch})`);
    let x = tf.add(linear(this.patchify(images), this.patchEmbed), this.encoderPos) as tf.Tensor3D; // [B, L, D]
    if (masking && this.encoderMaskToken) {
      // Ablation: removed patches become the mask token (plus their positional embedding).
      const m = tf.tensor3d(masking.mask, [batch, this.tokens, 1]);
      const token = tf.add(this.encoderMaskToken, this.encoderPos);
      x = tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(token, m)) as tf.Tensor3D; //           [B, L, D]
    } else if (masking) {
      x = gatherRows(x, visibleIndices(masking)); //                                     [B, K, D]
    }
    x = tf.concat([broadcastToken(this.clsToken, batch, 1), x], 1); //                  [B, 1+K, D]
    const blocks: tf.Tensor3D[] = [];
    const attention: tf.Tensor4D[] = [];
    for (const p of this.encoderBlocks) {
      const out = transformerBlock(x, p, opts.attention);
      x = out.out;
      blocks.push(x);
      if (out.attention) attention.push(out.attention);
    }
    const latent = layerNorm(x, this.encoderNorm, this.config.encoderNormEps);
    return { latent, blocks, attention: opts.attention ? attention : undefined };
  }

  /** Latent [B, 1+K, D] → predicted patches [B, L, P]: mask tokens fill removed places, then unshuffle. */
  forwardDecoder(latent: tf.Tensor3D, masking: Masking | null): tf.Tensor3D {
    const d = this.decoder;
    if (!d) {
      throw new ConfigError(`this model has no decoder: its weights${this.origin ? ` (${this.origin.file})` : ''} are an encoder alone, ` +
        'so it gives features, attention and PCA but cannot reconstruct; load a checkpoint that includes the decoder to reconstruct');
    }
    const batch = latent.shape[0];
    const e = this.config.decoderWidth;
    let x = linear(latent, d.embed); //                                                   [B, 1+K, E]
    if (masking && !this.encoderMaskToken) {
      const visible = tf.slice(x, [0, 1, 0], [batch, masking.keep, e]);
      const filled = tf.concat([visible, broadcastToken(d.maskToken, batch, this.tokens - masking.keep)], 1); // [B, L, E] shuffled
      const restored = gatherRows(filled as tf.Tensor3D, masking.idsRestore); //        [B, L, E] grid order
      x = tf.concat([tf.slice(x, [0, 0, 0], [batch, 1, e]), restored], 1);
    }
    x = tf.add(x, d.pos) as tf.Tensor3D; //                                              [B, 1+L, E]
    for (const p of d.blocks) x = transformerBlock(x, p).out;
    const pred = linear(layerNorm(x, d.norm, this.config.decoderNormEps), d.pred); //    [B, 1+L, P]
    return tf.slice(pred, [0, 1, 0], [batch, this.tokens, pred.shape[2]]); //            drop CLS
  }

  /** Reconstruction loss of `pred` [B, L, P] against the images, over removed patches (all of them with `lossOnAllPatches`). */
  forwardLoss(images: tf.Tensor4D, pred: tf.Tensor3D, masking: Masking): tf.Scalar {
    const mask = tf.tensor2d(masking.mask, [masking.batch, masking.tokens]);
    return maeLoss(images, pred, mask, { patch: this.config.patchSize, normPix: this.config.normPixLoss, allPatches: this.config.lossOnAllPatches });
  }

  /** The whole masked forward pass for a given masking. */
  forward(images: tf.Tensor4D, masking: Masking): MaeOutput {
    const encoder = this.forwardEncoder(images, masking);
    const pred = this.forwardDecoder(encoder.latent, masking);
    return { loss: this.forwardLoss(images, pred, masking), pred, encoder };
  }

  /** Evaluation features: the CLS token after the final LayerNorm of the UNMASKED images, [B, D]. */
  features(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      return clsToken(this.forwardEncoder(images, null).latent);
    });
  }

  /**
   * Per-sample representations of chosen blocks: the mean patch token of each block's raw output
   * ([B, D]), as MAGMA regularizes them, and the CLS token after the final LayerNorm ([B, D], the
   * evaluation feature). Unmasked by default; with a masking, of what the encoder sees (the visible
   * patches, or every patch with the mask-token ablation).
   * @param opts.blocks 0-based block numbers (negative counts from the end); default every block
   */
  representations(images: tf.Tensor4D, opts: { masking?: Masking | null; blocks?: number[] } = {}): Representations {
    const depth = this.config.encoderDepth;
    const blocks = (opts.blocks ?? Array.from({ length: depth }, (_, i) => i)).map((k) => {
      check(Number.isInteger(k) && k >= -depth && k < depth, `block ${k} does not exist: the encoder has blocks 0..${depth - 1} (or -${depth}..-1 from the end)`);
      return k < 0 ? depth + k : k;
    });
    return tf.tidy(() => {
      const out = this.forwardEncoder(images, opts.masking ?? null);
      return { blocks: blocks.map((block) => ({ block, meanPatchTokens: meanPatchTokens(out.blocks[block]) })), cls: clsToken(out.latent) };
    });
  }

  /**
   * Writes the weights as a safetensors file that PyTorch code can load: `mae` names and layouts
   * (the default) are facebookresearch/mae's models_mae.py, `hf` Hugging Face's
   * ViTMAEForPreTraining (see src/nn/layouts.ts). The config goes into the file's metadata, so
   * {@link loadPretrained} rebuilds the same model from it.
   */
  saveWeights(file: string, opts: { layout?: WeightsLayout } = {}): void {
    const layout = opts.layout ?? 'mae';
    check(layout === 'mae' || layout === 'hf', `unknown weights layout '${layout}'; use 'mae' (models_mae.py, timm) or 'hf' (Hugging Face ViTMAE)`);
    const tensors = fileTensors(this.params.map((p) => ({ name: p.name, shape: p.variable.shape, values: p.variable.dataSync() as Float32Array })),
      this.config, layout, this.hasDecoder);
    writeSafetensors(file, tensors, { format: 'pt', 'magma-lab.config': JSON.stringify(this.config), 'magma-lab.layout': layout });
  }

  /** Frees every tensor the model holds. */
  dispose(): void {
    for (const p of this.params) p.variable.dispose();
    this.encoderPos.dispose();
    this.decoder?.pos.dispose();
  }

  private checkImages(images: tf.Tensor4D): void {
    const c = this.config;
    const [, h, w, ch] = images.shape;
    if (images.rank !== 4 || h !== c.imageSize || w !== c.imageSize || ch !== c.channels) {
      throw new Error(`the model expects images [B, ${c.imageSize}, ${c.imageSize}, ${c.channels}] (NHWC), got [${images.shape.join(', ')}]; ` +
        'resize the data or build the model with a matching imageSize/channels');
    }
  }
}

/** Mean of a block's output over the PATCH tokens (CLS excluded): [B, 1+N, D] → [B, D]. */
export function meanPatchTokens(block: tf.Tensor3D): tf.Tensor2D {
  const [b, n, d] = block.shape;
  return tf.mean(tf.slice(block, [0, 1, 0], [b, n - 1, d]), 1) as tf.Tensor2D;
}

/** The CLS token after the final LayerNorm: [B, 1+N, D] → [B, D]. */
export function clsToken(latent: tf.Tensor3D): tf.Tensor2D {
  const [b, , d] = latent.shape;
  return tf.reshape(tf.slice(latent, [0, 0, 0], [b, 1, d]), [b, d]);
}

/**
 * Builds a ViT masked autoencoder from a preset name or a (partial) config over tiny28.
 * @example const model = createMae(presets.tiny28, {seed: 0});
 */
export function createMae(config: PresetName | Partial<MaeConfig> = 'tiny28', opts: CreateMaeOptions = {}): Mae {
  return new Mae(resolveConfig(config), opts.seed ?? 0);
}

/**
 * The number of trainable values a model of `config` has, without building it: what a checkpoint
 * must hold before its config may be trusted to allocate anything.
 */
export function maeParameterCount(c: MaeConfig, opts: { decoder?: boolean } = {}): number {
  const linear = (inputs: number, outputs: number) => inputs * outputs + outputs;
  const block = (w: number) => 2 * 2 * w + linear(w, 3 * w) + linear(w, w) + linear(w, c.mlpRatio * w) + linear(c.mlpRatio * w, w);
  const patchDim = c.patchSize * c.patchSize * c.channels;
  const encoder = linear(patchDim, c.encoderWidth) + c.encoderWidth * (c.maskTokenInEncoder ? 2 : 1) +
    c.encoderDepth * block(c.encoderWidth) + 2 * c.encoderWidth;
  const decoder = linear(c.encoderWidth, c.decoderWidth) + c.decoderWidth + c.decoderDepth * block(c.decoderWidth) +
    2 * c.decoderWidth + linear(c.decoderWidth, patchDim);
  return encoder + (opts.decoder ?? true ? decoder : 0);
}
