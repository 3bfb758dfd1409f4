/**
 * How magma-lab's parameters correspond to the tensors of PyTorch MAE weight files, in two
 * namings ("layouts"):
 * - `mae`: facebookresearch/mae's models_mae.py (timm's ViT names): `patch_embed.proj.weight`,
 *   `blocks.3.attn.qkv.weight`, `decoder_blocks.0.mlp.fc1.bias`, …;
 * - `hf`: Hugging Face transformers' ViTMAEForPreTraining: `vit.embeddings.patch_embeddings.projection.weight`,
 *   `vit.encoder.layer.3.attention.attention.query.weight`, `decoder.decoder_layers.0.intermediate.dense.bias`, …
 *   (ViTMAEModel, the encoder alone, has the same names without `vit.`).
 * Both store torch's layouts: a linear weight is [out, in] (magma-lab's is [in, out]), the patch
 * embedding is a convolution weight [D, C, p, p] (magma-lab's a matrix [p·p·C, D] over patchify's
 * (row, column, channel) order), and ViTMAE splits qkv into query, key and value. The fixed
 * sin-cos positional embeddings are stored too, as [1, 1+L, width] with a zero row for CLS.
 */
import type { MaeConfig } from '../config';
import type { StoredTensor } from '../safetensors';
import type { WeightsLayout } from './mae';
import { sinCosWithClsRow } from './patches';

/** How one magma-lab parameter is stored in a file. */
export interface Correspondence {
  /** magma-lab's parameter name. */
  ours: string;
  /** The file's tensor name(s): three (query, key, value) for a split qkv, else one. */
  file: string[];
  /**
   * `same`: equal shape and values; `linear`: transposed; `patchEmbed`: matrix ↔ convolution
   * weight; `qkv`: one [D, 3D] weight (or [3D] bias) ↔ three torch-layout parts.
   */
  kind: 'same' | 'linear' | 'patchEmbed' | 'qkv';
}

/** The two fixed positional embeddings' names in a layout (encoder prefix for hf: `vit.` or ''). */
export function positionalEmbeddingNames(layout: WeightsLayout, prefix = 'vit.'): { encoder: string; decoder: string } {
  return layout === 'mae'
    ? { encoder: 'pos_embed', decoder: 'decoder_pos_embed' }
    : { encoder: `${prefix}embeddings.position_embeddings`, decoder: 'decoder.decoder_pos_embed' };
}

/** The name of the patch-embedding convolution weight, [D, C, p, p]. */
export function patchEmbedName(layout: WeightsLayout, prefix = 'vit.'): string {
  return layout === 'mae' ? 'patch_embed.proj.weight' : `${prefix}embeddings.patch_embeddings.projection.weight`;
}

/** A pattern whose first group is the block number of an encoder (or decoder) block tensor. */
export function blockPattern(layout: WeightsLayout, part: 'encoder' | 'decoder', prefix = 'vit.'): RegExp {
  if (layout === 'mae') return part === 'encoder' ? /^blocks\.(\d+)\./ : /^decoder_blocks\.(\d+)\./;
  return part === 'encoder' ? new RegExp(`^${prefix.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`) : /^decoder\.decoder_layers\.(\d+)\./;
}

/** The file name of block tensor `rest` (e.g. `mlp.fc1.weight`) of block `i`. */
export function blockTensorName(layout: WeightsLayout, part: 'encoder' | 'decoder', i: number, rest: string, prefix = 'vit.'): string[] {
  if (layout === 'mae') return [`${part === 'encoder' ? 'blocks' : 'decoder_blocks'}.${i}.${rest}`];
  const block = part === 'encoder' ? `${prefix}encoder.layer.${i}.` : `decoder.decoder_layers.${i}.`;
  const [module, leaf] = [rest.slice(0, rest.lastIndexOf('.')), rest.slice(rest.lastIndexOf('.') + 1)];
  if (module === 'attn.qkv') return ['query', 'key', 'value'].map((q) => `${block}attention.attention.${q}.${leaf}`);
  const hf: Record<string, string> = {
    norm1: 'layernorm_before', norm2: 'layernorm_after', 'attn.proj': 'attention.output.dense',
    'mlp.fc1': 'intermediate.dense', 'mlp.fc2': 'output.dense',
  };
  if (!(module in hf)) throw new Error(`no ${layout} name for block tensor ${rest}`);
  return [`${block}${hf[module]}.${leaf}`];
}

/** The file name(s) of magma-lab parameter `ours` in `layout`. */
function fileNames(ours: string, layout: WeightsLayout, prefix: string): string[] {
  const block = /^(blocks|decoder_blocks)\.(\d+)\.(.+)$/.exec(ours);
  if (block) return blockTensorName(layout, block[1] === 'blocks' ? 'encoder' : 'decoder', Number(block[2]), block[3], prefix);
  const [module, leaf] = [ours.slice(0, ours.lastIndexOf('.')), ours.slice(ours.lastIndexOf('.') + 1)];
  if (layout === 'mae') return [module === 'patch_embed' ? `patch_embed.proj.${leaf}` : ours];
  const top: Record<string, string> = {
    cls_token: `${prefix}embeddings.cls_token`,
    encoder_mask_token: `${prefix}embeddings.encoder_mask_token`, // magma-lab's ablation; not in ViTMAE
    mask_token: 'decoder.mask_token',
  };
  if (ours in top) return [top[ours]];
  const modules: Record<string, string> = {
    patch_embed: `${prefix}embeddings.patch_embeddings.projection`, norm: `${prefix}layernorm`,
    decoder_embed: 'decoder.decoder_embed', decoder_norm: 'decoder.decoder_norm', decoder_pred: 'decoder.decoder_pred',
  };
  if (!(module in modules)) throw new Error(`no ${layout} name for parameter ${ours}`);
  return [`${modules[module]}.${leaf}`];
}

/** Every parameter of a model with `names` (and their shapes) in `layout`. */
export function correspondences(params: { name: string; shape: number[] }[], layout: WeightsLayout, prefix = 'vit.'): Correspondence[] {
  return params.map(({ name, shape }) => {
    const file = fileNames(name, layout, prefix);
    const kind = file.length === 3 ? 'qkv' : name === 'patch_embed.weight' ? 'patchEmbed'
      : shape.length === 2 && name.endsWith('.weight') ? 'linear' : 'same';
    return { ours: name, file, kind };
  });
}

/** The file tensors' shapes for a parameter of shape `shape` (magma-lab's). */
export function fileShapes(c: Correspondence, shape: number[], config: MaeConfig): number[][] {
  switch (c.kind) {
    case 'same': return [shape];
    case 'linear': return [[shape[1], shape[0]]];
    case 'patchEmbed': return [[shape[1], config.channels, config.patchSize, config.patchSize]];
    case 'qkv': return shape.length === 2 ? [0, 1, 2].map(() => [shape[0], shape[0]]) : [0, 1, 2].map(() => [shape[0] / 3]);
  }
}

/** magma-lab values [shape] → the file's tensors, in `c.file`'s order. */
export function toFile(c: Correspondence, values: Float32Array, shape: number[], config: MaeConfig): Float32Array[] {
  switch (c.kind) {
    case 'same': return [values];
    case 'linear': return [transpose(values, shape[0], shape[1])];
    case 'patchEmbed': {
      const { p, channels, width } = patchDims(config);
      const out = new Float32Array(values.length); // [D, C, p, p] from [(r·p + c)·C + ch, D]
      for (let d = 0; d < width; d++) for (let ch = 0; ch < channels; ch++) for (let r = 0; r < p; r++) for (let col = 0; col < p; col++) {
        out[((d * channels + ch) * p + r) * p + col] = values[((r * p + col) * channels + ch) * width + d];
      }
      return [out];
    }
    case 'qkv': {
      if (shape.length === 1) return [0, 1, 2].map((i) => values.slice(i * shape[0] / 3, (i + 1) * shape[0] / 3));
      const [d] = shape; // [D, 3D]: columns i·D … (i+1)·D are part i, stored [out, in]
      return [0, 1, 2].map((i) => {
        const out = new Float32Array(d * d);
        for (let o = 0; o < d; o++) for (let j = 0; j < d; j++) out[o * d + j] = values[j * 3 * d + i * d + o];
        return out;
      });
    }
  }
}

/** The file's tensors (in `c.file`'s order) → magma-lab values of shape `shape`. */
export function fromFile(c: Correspondence, parts: Float32Array[], shape: number[], config: MaeConfig): Float32Array {
  switch (c.kind) {
    case 'same': return parts[0];
    case 'linear': return transpose(parts[0], shape[1], shape[0]);
    case 'patchEmbed': {
      const { p, channels, width } = patchDims(config);
      const out = new Float32Array(parts[0].length);
      for (let d = 0; d < width; d++) for (let ch = 0; ch < channels; ch++) for (let r = 0; r < p; r++) for (let col = 0; col < p; col++) {
        out[((r * p + col) * channels + ch) * width + d] = parts[0][((d * channels + ch) * p + r) * p + col];
      }
      return out;
    }
    case 'qkv': {
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (shape.length === 1) {
        parts.forEach((part, i) => out.set(part, i * part.length));
        return out;
      }
      const [d] = shape;
      parts.forEach((part, i) => {
        for (let o = 0; o < d; o++) for (let j = 0; j < d; j++) out[j * 3 * d + i * d + o] = part[o * d + j];
      });
      return out;
    }
  }
}

/**
 * Every tensor of a weights file in `layout`: each parameter converted, plus the fixed positional
 * embeddings (as models_mae.py and ViTMAE keep them in their state dicts).
 */
export function fileTensors(params: { name: string; shape: number[]; values: Float32Array }[], config: MaeConfig,
  layout: WeightsLayout, withDecoder: boolean): ({ name: string } & StoredTensor)[] {
  const out: ({ name: string } & StoredTensor)[] = [];
  correspondences(params, layout).forEach((c, i) => {
    const { shape, values } = params[i];
    const shapes = fileShapes(c, shape, config);
    toFile(c, values, shape, config).forEach((v, j) => out.push({ name: c.file[j], shape: shapes[j], values: v }));
  });
  const grid = config.imageSize / config.patchSize;
  const pos = positionalEmbeddingNames(layout);
  out.push({ name: pos.encoder, shape: [1, 1 + grid * grid, config.encoderWidth], values: sinCosWithClsRow(config.encoderWidth, grid) });
  if (withDecoder) out.push({ name: pos.decoder, shape: [1, 1 + grid * grid, config.decoderWidth], values: sinCosWithClsRow(config.decoderWidth, grid) });
  return out;
}

function patchDims(config: MaeConfig) {
  return { p: config.patchSize, channels: config.channels, width: config.encoderWidth };
}

/** [rows, cols] → [cols, rows]. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}
