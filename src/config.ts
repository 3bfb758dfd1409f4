/**
 * Typed model configuration, the presets, and validation with errors that say how to fix them.
 */

/** How the patches an MAE hides are chosen (MAE paper, Fig. 6 / Table 1f). */
export type MaskSampling = 'random' | 'block' | 'grid';

/** Everything that defines a ViT masked autoencoder (SPEC §1). Plain data: it goes into checkpoints. */
export interface MaeConfig {
  /** Input height = width, in pixels. */
  imageSize: number;
  /** 1 for gray, 3 for RGB. */
  channels: number;
  /** Patch side p; imageSize must be a multiple of it. L = (imageSize/p)² tokens. */
  patchSize: number;
  encoderWidth: number;
  encoderDepth: number;
  encoderHeads: number;
  decoderWidth: number;
  decoderDepth: number;
  decoderHeads: number;
  /** Hidden width of every MLP = mlpRatio · width. */
  mlpRatio: number;
  /** Share of patches removed, in [0, 1). */
  maskRatio: number;
  /** Normalize each target patch by its own mean and unbiased variance (on in all MAGMA configs). */
  normPixLoss: boolean;
  maskSampling: MaskSampling;
  /** MAE ablation: the encoder sees all tokens with a learned mask token at removed places. */
  maskTokenInEncoder: boolean;
  /**
   * MAE ablation (its footnote 1): average the reconstruction loss over every patch, visible ones
   * included, instead of over the removed patches only (MAE's and MAGMA's loss: false).
   */
  lossOnAllPatches: boolean;
  /** ε of every encoder LayerNorm: 1e-6 in MAE's models_mae.py and MAGMA's code. */
  encoderNormEps: number;
  /**
   * ε of every decoder LayerNorm. MAGMA's code builds its decoder with torch's default, 1e-5
   * (SPEC §1, the default here); MAE's models_mae.py passes 1e-6 to its decoder too; Hugging
   * Face's ViTMAE uses its `layer_norm_eps` (1e-12 by default) in both. Weights loaded with
   * {@link loadPretrained} get the value of their layout.
   */
  decoderNormEps: number;
}

/**
 * The fields added after the first checkpoints and run folders were written, with their defaults:
 * the values that reproduce how those older configs behaved (SPEC §1's LayerNorm ε; the loss on
 * removed patches only).
 */
export const LATER_FIELD_DEFAULTS = { encoderNormEps: 1e-6, decoderNormEps: 1e-5, lossOnAllPatches: false } as const;

const base = { mlpRatio: 4, maskRatio: 0.75, normPixLoss: true, maskSampling: 'random', maskTokenInEncoder: false, ...LATER_FIELD_DEFAULTS } as const;

/** Named configurations. Copy and change one: `{...presets.tiny28, maskRatio: 0.9}`. */
export const presets = {
  /** 28×28 gray (MNIST, Fashion-MNIST), patch 4 (49 tokens): trains in minutes on 2 CPU cores. */
  tiny28: { ...base, imageSize: 28, channels: 1, patchSize: 4, encoderWidth: 128, encoderDepth: 4, encoderHeads: 4, decoderWidth: 96, decoderDepth: 2, decoderHeads: 4 },
  /** 32×32 RGB, patch 4 (64 tokens): the model of ../shared/research/BACKEND.md and the benchmark. */
  tiny32: { ...base, imageSize: 32, channels: 3, patchSize: 4, encoderWidth: 192, encoderDepth: 4, encoderHeads: 3, decoderWidth: 128, decoderDepth: 2, decoderHeads: 4 },
  /** ViT-S/4 for 32×32 RGB (CIFAR), the released MAE decoder (512 wide, 8 deep, 16 heads). */
  vitSmallCifar: { ...base, imageSize: 32, channels: 3, patchSize: 4, encoderWidth: 384, encoderDepth: 12, encoderHeads: 6, decoderWidth: 512, decoderDepth: 8, decoderHeads: 16 },
  /** ViT-B/16 at 224 (ImageNet-100), the released MAGMA recipe. */
  vitBase16: { ...base, imageSize: 224, channels: 3, patchSize: 16, encoderWidth: 768, encoderDepth: 12, encoderHeads: 12, decoderWidth: 512, decoderDepth: 8, decoderHeads: 16 },
  /** ViT-L/16 at 224, MAE's Table 1 model (its decoder: 512 wide, 8 deep, 16 heads). */
  vitLarge16: { ...base, imageSize: 224, channels: 3, patchSize: 16, encoderWidth: 1024, encoderDepth: 24, encoderHeads: 16, decoderWidth: 512, decoderDepth: 8, decoderHeads: 16 },
} satisfies Record<string, MaeConfig>;

/** A preset's name. */
export type PresetName = keyof typeof presets;

/** Error thrown for a bad configuration or option; its message names the problem and the fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Checks a condition about user input; throws a {@link ConfigError} with `message` when false. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ConfigError(message);
}

function positiveInt(cfg: Record<string, unknown>, key: string): void {
  const v = cfg[key];
  check(typeof v === 'number' && Number.isInteger(v) && v > 0, `MaeConfig.${key} must be a positive integer, got ${JSON.stringify(v)}`);
}

/** Resolves a preset name or partial config (over tiny28's defaults) and validates it. */
export function resolveConfig(config: PresetName | (Partial<MaeConfig> & { preset?: PresetName })): MaeConfig {
  if (typeof config === 'string') {
    check(config in presets, `unknown preset '${config}'; valid presets: ${Object.keys(presets).join(', ')}`);
    return validateConfig({ ...presets[config] });
  }
  const { preset = 'tiny28', ...rest } = config;
  check(preset in presets, `unknown preset '${preset}'; valid presets: ${Object.keys(presets).join(', ')}`);
  return validateConfig({ ...presets[preset], ...rest });
}

/** A config as written by any earlier version, with the fields added since at {@link LATER_FIELD_DEFAULTS}, validated. */
export function upgradeConfig(written: Partial<MaeConfig>): MaeConfig {
  return validateConfig({ ...LATER_FIELD_DEFAULTS, ...written } as MaeConfig);
}

/** Throws a {@link ConfigError} naming the first invalid field of `cfg` and what would be valid. */
export function validateConfig(cfg: MaeConfig): MaeConfig {
  const rec = cfg as unknown as Record<string, unknown>;
  const known = new Set(Object.keys(presets.tiny28));
  for (const key of Object.keys(rec)) check(known.has(key), `unknown MaeConfig field '${key}'; valid fields: ${[...known].join(', ')}`);
  for (const key of ['imageSize', 'channels', 'patchSize', 'encoderWidth', 'encoderDepth', 'encoderHeads',
    'decoderWidth', 'decoderDepth', 'decoderHeads', 'mlpRatio']) positiveInt(rec, key);
  check(cfg.imageSize % cfg.patchSize === 0, `imageSize ${cfg.imageSize} is not a multiple of patchSize ${cfg.patchSize}; pick a patch size that divides it`);
  check(cfg.encoderWidth % cfg.encoderHeads === 0, `encoderWidth ${cfg.encoderWidth} is not divisible by encoderHeads ${cfg.encoderHeads}`);
  check(cfg.decoderWidth % cfg.decoderHeads === 0, `decoderWidth ${cfg.decoderWidth} is not divisible by decoderHeads ${cfg.decoderHeads}`);
  // The 2-D sin-cos embedding splits the width in 4 (sin/cos × row/column).
  check(cfg.encoderWidth % 4 === 0 && cfg.decoderWidth % 4 === 0, `encoderWidth and decoderWidth must be multiples of 4 (2-D sin-cos positional embedding), got ${cfg.encoderWidth} and ${cfg.decoderWidth}`);
  check(typeof cfg.maskRatio === 'number' && cfg.maskRatio >= 0 && cfg.maskRatio < 1, `maskRatio must be in [0, 1), got ${cfg.maskRatio}`);
  check(['random', 'block', 'grid'].includes(cfg.maskSampling), `maskSampling must be 'random', 'block' or 'grid', got '${cfg.maskSampling}'`);
  for (const key of ['encoderNormEps', 'decoderNormEps'] as const) {
    const eps = cfg[key];
    check(typeof eps === 'number' && eps > 0 && eps < 1, `MaeConfig.${key} must be a number in (0, 1), such as 1e-6, got ${JSON.stringify(eps)}`);
  }
  for (const key of ['normPixLoss', 'maskTokenInEncoder', 'lossOnAllPatches'] as const) {
    check(typeof cfg[key] === 'boolean', `${key} must be true or false, got ${JSON.stringify(cfg[key])}`);
  }
  const tokens = (cfg.imageSize / cfg.patchSize) ** 2;
  check(Math.floor(tokens * (1 - cfg.maskRatio)) >= 1, `maskRatio ${cfg.maskRatio} keeps no patch of ${tokens}; lower it`);
  return cfg;
}
