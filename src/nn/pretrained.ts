/**
 * Loading PyTorch MAE weights from safetensors files (never pickle): {@link loadPretrained} reads
 * the names of facebookresearch/mae's models_mae.py (timm's) or of Hugging Face's
 * ViTMAEForPreTraining (src/nn/layouts.ts), infers the config from the tensor shapes, and says
 * what it had to assume. `Mae.saveWeights` writes the same files.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, type MaeConfig, type MaskSampling, validateConfig } from '../config';
import { SafetensorsError, SafetensorsFile } from '../safetensors';
import { blockPattern, correspondences, fileShapes, fromFile, patchEmbedName, positionalEmbeddingNames } from './layouts';
import { Mae, type WeightsLayout } from './mae';
import { sinCosWithClsRow } from './patches';

/** Options of {@link loadPretrained}: config values a weights file cannot tell. */
export interface LoadPretrainedOptions {
  /** Heads of the encoder's attention (the weights do not show them). */
  encoderHeads?: number;
  /** Heads of the decoder's attention. */
  decoderHeads?: number;
  /** LayerNorm ε of the encoder; by default the layout's (models_mae.py 1e-6, ViTMAE its config's or 1e-12). */
  encoderNormEps?: number;
  /** LayerNorm ε of the decoder; by default the layout's. */
  decoderNormEps?: number;
  /** Training settings the weights do not record (they matter for the loss only). */
  normPixLoss?: boolean;
  maskRatio?: number;
  maskSampling?: MaskSampling;
  lossOnAllPatches?: boolean;
  /** Where the one-line summary goes; default console.log. */
  log?: (line: string) => void;
}

/** An error in a weights file's contents (not its format); names the file, the problem and the fix. */
export class PretrainedError extends Error {
  override name = 'PretrainedError';

  constructor(readonly file: string, problem: string, fix: string) {
    super(`${problem} (${file}): ${fix}`);
  }
}

/**
 * Head counts of the released models_mae.py architectures, by (width, depth): the one thing a
 * models_mae.py file cannot tell. mae_vit_base_patch16 (768, 12) 12 heads, large (1024, 24) and
 * huge (1280, 32) 16; their decoder (512 wide, 8 deep) 16.
 */
const RELEASED_HEADS: { width: number; depth: number; heads: number; name: string }[] = [
  { width: 768, depth: 12, heads: 12, name: "models_mae.py's ViT-B encoder" },
  { width: 1024, depth: 24, heads: 16, name: "models_mae.py's ViT-L encoder" },
  { width: 1280, depth: 32, heads: 16, name: "models_mae.py's ViT-H encoder" },
  { width: 512, depth: 8, heads: 16, name: "models_mae.py's decoder" },
];

/** The file's naming, and for hf the encoder's prefix (`vit.` in ViTMAEForPreTraining, '' in ViTMAEModel). */
function detectLayout(st: SafetensorsFile): { layout: WeightsLayout; prefix: string } {
  if (st.entries.has(patchEmbedName('mae'))) return { layout: 'mae', prefix: '' };
  for (const prefix of ['vit.', '']) if (st.entries.has(patchEmbedName('hf', prefix))) return { layout: 'hf', prefix };
  const some = [...st.entries.keys()].slice(0, 5).join(', ');
  throw new PretrainedError(st.file, `no MAE patch embedding found (neither '${patchEmbedName('mae')}' nor '${patchEmbedName('hf')}'); its tensors start ${some || '(none)'}`,
    "give weights in models_mae.py's (timm's) or Hugging Face ViTMAE's naming");
}

/** The shape of tensor `name`, or an error naming it. */
function shapeOf(st: SafetensorsFile, name: string): number[] {
  const entry = st.entries.get(name);
  if (!entry) throw new PretrainedError(st.file, `tensor '${name}' is missing`, 'the file is not a complete MAE in this naming; check how it was written');
  return entry.shape;
}

/** Number of blocks: 1 + the highest block number in the names (0 when none). */
function countBlocks(st: SafetensorsFile, pattern: RegExp): number {
  let depth = 0;
  for (const name of st.entries.keys()) {
    const m = pattern.exec(name);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  return depth;
}

/** Config values given with the file: magma-lab's own metadata, or a Hugging Face config.json beside it. */
function givenWithFile(st: SafetensorsFile, layout: WeightsLayout): { values: Partial<MaeConfig>; source: string } | null {
  const own = st.metadata['magma-lab.config'];
  if (own) {
    try {
      return { values: JSON.parse(own) as Partial<MaeConfig>, source: "the file's magma-lab metadata" };
    } catch {
      throw new PretrainedError(st.file, "its 'magma-lab.config' metadata is not JSON", 'write the file again with model.saveWeights');
    }
  }
  const configJson = path.join(path.dirname(st.file), 'config.json');
  if (layout !== 'hf' || !fs.existsSync(configJson)) return null;
  let hf: Record<string, unknown>;
  try {
    hf = JSON.parse(fs.readFileSync(configJson, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new PretrainedError(configJson, `the Hugging Face config beside the weights is not JSON (${(e as Error).message})`, 'repair or remove it');
  }
  const values: Partial<MaeConfig> = {};
  const take = <K extends keyof MaeConfig>(key: K, hfKey: string) => {
    if (hf[hfKey] !== undefined) values[key] = hf[hfKey] as MaeConfig[K];
  };
  take('encoderHeads', 'num_attention_heads');
  take('decoderHeads', 'decoder_num_attention_heads');
  take('encoderNormEps', 'layer_norm_eps');
  take('decoderNormEps', 'layer_norm_eps'); // ViTMAE has one ε for both
  take('normPixLoss', 'norm_pix_loss');
  take('maskRatio', 'mask_ratio');
  return { values, source: configJson };
}

/**
 * The config of the model in `st`: shapes from the tensors, the rest from the options, then what
 * came with the file, then (noted in `assumed`) the released architectures and the layout's
 * defaults. Throws a {@link PretrainedError} naming what cannot be inferred.
 */
function inferConfig(st: SafetensorsFile, layout: WeightsLayout, prefix: string, opts: LoadPretrainedOptions) {
  const assumed: string[] = [];
  const given = givenWithFile(st, layout);
  const [width, channels, patch, patchW] = shapeOf(st, patchEmbedName(layout, prefix)); // [D, C, p, p]
  if (patch !== patchW) throw new PretrainedError(st.file, `its patch embedding is ${patch}×${patchW}`, 'magma-lab supports square patches only');
  const pos = positionalEmbeddingNames(layout, prefix);
  const tokens = shapeOf(st, pos.encoder)[1] - 1; // [1, 1+L, D]
  const grid = Math.round(Math.sqrt(tokens));
  if (grid * grid !== tokens) throw new PretrainedError(st.file, `its positional embedding has ${tokens} patch rows, not a square grid`, 'magma-lab supports square images only');
  const encoderDepth = countBlocks(st, blockPattern(layout, 'encoder', prefix));
  const fc1 = layout === 'mae' ? 'blocks.0.mlp.fc1.weight' : `${prefix}encoder.layer.0.intermediate.dense.weight`;
  const hidden = shapeOf(st, fc1)[0]; // [ratio·D, D]
  if (hidden % width !== 0) throw new PretrainedError(st.file, `its MLP is ${hidden} wide for a width of ${width}`, 'magma-lab needs an integer MLP ratio');
  const decoderEmbed = layout === 'mae' ? 'decoder_embed.weight' : 'decoder.decoder_embed.weight';
  const hasDecoder = st.entries.has(decoderEmbed);
  const decoderWidth = hasDecoder ? shapeOf(st, decoderEmbed)[0] : width; // [E, D]
  const decoderDepth = hasDecoder ? countBlocks(st, blockPattern(layout, 'decoder', prefix)) : 1;
  if (hasDecoder && decoderDepth > 0) {
    const decoderHidden = shapeOf(st, layout === 'mae' ? 'decoder_blocks.0.mlp.fc1.weight' : 'decoder.decoder_layers.0.intermediate.dense.weight')[0];
    if (decoderHidden !== (hidden / width) * decoderWidth) {
      throw new PretrainedError(st.file, `its decoder's MLP ratio (${decoderHidden / decoderWidth}) differs from the encoder's (${hidden / width})`, 'magma-lab uses one mlpRatio for both');
    }
  }
  // What the shapes cannot tell: options first, then the file's own config, then what is known.
  const pick = <K extends keyof MaeConfig>(key: K, fallback: () => { value: MaeConfig[K]; why: string } | null): MaeConfig[K] => {
    if (opts[key as keyof LoadPretrainedOptions] !== undefined) return opts[key as keyof LoadPretrainedOptions] as MaeConfig[K];
    if (given && given.values[key] !== undefined) return given.values[key] as MaeConfig[K];
    const f = fallback();
    if (!f) {
      throw new PretrainedError(st.file, `the weights do not tell ${key}${given ? ` and ${given.source} does not give it` : ''}`,
        `pass it: loadPretrained(file, {${key}: …})`);
    }
    assumed.push(`${key} = ${JSON.stringify(f.value)} (${f.why})`);
    return f.value;
  };
  const released = (w: number, depth: number) => () => {
    const known = RELEASED_HEADS.find((r) => r.width === w && r.depth === depth);
    return known ? { value: known.heads, why: `as ${known.name}, ${w} wide and ${depth} deep` } : null;
  };
  const layoutEps = layout === 'mae' ? { value: 1e-6, why: "models_mae.py's, in encoder and decoder" } : { value: 1e-12, why: "Hugging Face ViTMAEConfig's default layer_norm_eps" };
  const unrecorded = <T>(value: T, what: string) => () => ({ value, why: `not recorded in the weights; ${what}` });
  const config: MaeConfig = {
    imageSize: grid * patch, channels, patchSize: patch,
    encoderWidth: width, encoderDepth, encoderHeads: pick('encoderHeads', released(width, encoderDepth)),
    decoderWidth, decoderDepth,
    decoderHeads: hasDecoder ? pick('decoderHeads', released(decoderWidth, decoderDepth)) : 1,
    mlpRatio: hidden / width,
    maskRatio: pick('maskRatio', unrecorded(0.75, "MAE's default")),
    normPixLoss: pick('normPixLoss', unrecorded(layout === 'mae', layout === 'mae' ? "MAE's released pre-training used --norm_pix_loss" : "ViTMAEConfig's default")),
    maskSampling: pick('maskSampling', unrecorded<MaskSampling>('random', "MAE's")),
    lossOnAllPatches: pick('lossOnAllPatches', unrecorded(false, "MAE's (the removed patches only)")),
    maskTokenInEncoder: st.entries.has(layout === 'mae' ? 'encoder_mask_token' : `${prefix}embeddings.encoder_mask_token`),
    encoderNormEps: pick('encoderNormEps', () => layoutEps),
    decoderNormEps: hasDecoder ? pick('decoderNormEps', () => layoutEps) : layoutEps.value,
  };
  try {
    validateConfig(config);
  } catch (e) {
    throw new PretrainedError(st.file, `the inferred config is invalid: ${(e as Error).message}`, 'pass the right values in the options');
  }
  return { config, hasDecoder, assumed };
}

/** Checks a fixed positional embedding of the file against magma-lab's 2-D sin-cos one. */
function checkPositional(st: SafetensorsFile, name: string, width: number, grid: number): void {
  const stored = st.read(name).values;
  const ours = sinCosWithClsRow(width, grid);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(stored[i] - ours[i]));
  if (!(worst <= 1e-4)) {
    throw new PretrainedError(st.file, `its positional embedding '${name}' differs from MAE's fixed 2-D sin-cos embedding by up to ${worst.toPrecision(3)}`,
      'magma-lab supports the fixed sin-cos embedding only (not learned or interpolated ones)');
  }
}

/**
 * Loads PyTorch MAE weights from a safetensors file and returns the model.
 *
 * The naming is detected: facebookresearch/mae's models_mae.py (and timm's ViT), or Hugging Face
 * transformers' ViTMAEForPreTraining / ViTMAEModel. The config comes from the tensor shapes
 * (patch size, channels, image size, widths, depths, MLP ratio); head counts come from the
 * options, the file's metadata (files written by `model.saveWeights`), a Hugging Face
 * config.json beside the file, or the released models_mae.py architectures, and are otherwise
 * named in an error. Each layout sets its LayerNorm ε (models_mae.py 1e-6 in encoder and
 * decoder; ViTMAE its `layer_norm_eps`). An encoder-only file (no decoder) loads for features,
 * attention and PCA, and says so. One summary line goes to `opts.log`.
 *
 * To turn an official `.pth` into safetensors, see the README ("Loading PyTorch weights").
 * @example const model = ml.loadPretrained('mae_pretrain_vit_base.safetensors');
 */
export function loadPretrained(file: string, opts: LoadPretrainedOptions = {}): Mae {
  const st = SafetensorsFile.open(file);
  const { layout, prefix } = detectLayout(st);
  const { config, hasDecoder, assumed } = inferConfig(st, layout, prefix, opts);
  const grid = config.imageSize / config.patchSize;
  const pos = positionalEmbeddingNames(layout, prefix);
  checkPositional(st, pos.encoder, config.encoderWidth, grid);
  if (hasDecoder) checkPositional(st, pos.decoder, config.decoderWidth, grid);
  const ignored = new Set(st.entries.keys());
  ignored.delete(pos.encoder);
  ignored.delete(pos.decoder);
  const model = new Mae(config, 0, { decoder: hasDecoder, origin: { file, layout, assumed, ignored: [] } });
  try {
    const params = model.params.map((p) => ({ name: p.name, shape: p.variable.shape }));
    correspondences(params, layout, prefix).forEach((c, i) => {
      const shapes = fileShapes(c, params[i].shape, config);
      const parts = c.file.map((name, j) => {
        const shape = shapeOf(st, name);
        if (shape.join() !== shapes[j].join()) {
          throw new PretrainedError(file, `tensor '${name}' is [${shape.join(', ')}] where a model of the inferred config needs [${shapes[j].join(', ')}]`,
            'the file mixes architectures, or a config option given does not match it');
        }
        ignored.delete(name);
        return st.read(name).values;
      });
      const variable = model.params[i].variable;
      tf.tidy(() => variable.assign(tf.tensor(fromFile(c, parts, params[i].shape, config), params[i].shape)));
    });
  } catch (e) {
    model.dispose();
    throw e instanceof SafetensorsError || e instanceof PretrainedError || e instanceof ConfigError ? e : new PretrainedError(file, (e as Error).message, 'check the file');
  }
  model.origin!.ignored.push(...ignored);
  const millions = (model.parameterCount / 1e6).toFixed(model.parameterCount < 1e7 ? 2 : 1);
  (opts.log ?? console.log)(`loaded ${file}: ${layout === 'mae' ? "models_mae.py (timm) names" : 'Hugging Face ViTMAE names'}, ` +
    `ViT ${config.encoderWidth}×${config.encoderDepth} with patch ${config.patchSize} at ${config.imageSize} px, ${millions} M parameters, ` +
    (hasDecoder ? `decoder ${config.decoderWidth}×${config.decoderDepth}` : 'ENCODER ONLY (features, attention and PCA work; no decoder, so no reconstruction)') +
    (assumed.length ? `; assumed ${assumed.join('; ')}` : '') + (ignored.size ? `; ignored ${[...ignored].join(', ')}` : ''));
  return model;
}
