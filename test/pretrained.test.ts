/**
 * Weights interop: safetensors reading and writing (crafted files included), the models_mae.py and
 * Hugging Face ViTMAE layouts, config inference, encoder-only files. The PyTorch parity test is
 * test/pytorch.test.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { createMae, type Mae } from '../src/nn/mae';
import { loadPretrained, PretrainedError } from '../src/nn/pretrained';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../src/safetensors';
import { Rng } from '../src/random';
import { tempDir, testConfig, useBackend } from './helpers';

const quiet = { log: () => {} };

/** Every tensor of a safetensors file. */
function readAll(file: string): Map<string, { shape: number[]; values: Float32Array }> {
  const st = SafetensorsFile.open(file);
  return new Map([...st.entries.keys()].map((name) => [name, st.read(name)]));
}

/** Writes `tensors` (a readAll map) to a new file, renamed or filtered by `edit`. */
function rewrite(tensors: Map<string, { shape: number[]; values: Float32Array }>, file: string,
  edit: (name: string) => string | null = (n) => n, metadata: Record<string, string> = {}): string {
  const out = [...tensors].flatMap(([name, t]) => {
    const renamed = edit(name);
    return renamed === null ? [] : [{ name: renamed, ...t }];
  });
  writeSafetensors(file, out, metadata);
  return file;
}

/** Encoder latent and decoder prediction for fixed images and masks. */
function outputs(model: Mae): { latent: Float32Array; pred?: Float32Array } {
  return tf.tidy(() => {
    const c = model.config;
    const images = tf.randomNormal([2, c.imageSize, c.imageSize, c.channels], 0, 1, 'float32', 7) as tf.Tensor4D;
    const masking = model.randomMasking(new Rng(5), 2);
    const enc = model.forwardEncoder(images, masking);
    const latent = enc.latent.dataSync() as Float32Array;
    return { latent, pred: model.hasDecoder ? (model.forwardDecoder(enc.latent, masking).dataSync() as Float32Array) : undefined };
  });
}

describe('weights interop (safetensors)', function () {
  this.timeout(60000);
  before(async () => useBackend('cpu'));

  for (const layout of ['mae', 'hf'] as const) {
    it(`saveWeights → loadPretrained round trip in the ${layout} layout: same config, same weights, same outputs`, () => {
      const model = createMae({ ...testConfig, decoderNormEps: 1e-6 }, { seed: 3 });
      const file = path.join(tempDir(), 'w.safetensors');
      model.saveWeights(file, { layout });
      const lines: string[] = [];
      const loaded = loadPretrained(file, { log: (l) => lines.push(l) });
      assert.deepEqual(loaded.config, model.config);
      assert.equal(loaded.origin?.layout, layout);
      assert.deepEqual(loaded.origin?.assumed, [], 'the metadata tells everything');
      model.params.forEach((p, i) => assert.deepEqual(loaded.params[i].variable.dataSync(), p.variable.dataSync(), p.name));
      assert.deepEqual(outputs(loaded), outputs(model));
      assert.match(lines.join('\n'), /loaded .*w\.safetensors: .*decoder 12×1/);
      model.dispose();
      loaded.dispose();
    });
  }

  it('the mae layout has models_mae.py names and torch shapes; the hf layout the Hugging Face converter names', () => {
    const model = createMae(testConfig, { seed: 1 }); // width 16, 2 blocks, decoder 12×1, patch 4, RGB
    const dir = tempDir();
    model.saveWeights(path.join(dir, 'mae.safetensors'), { layout: 'mae' });
    model.saveWeights(path.join(dir, 'hf.safetensors'), { layout: 'hf' });
    const mae = SafetensorsFile.open(path.join(dir, 'mae.safetensors')).entries;
    const hf = SafetensorsFile.open(path.join(dir, 'hf.safetensors')).entries;
    const shape = (m: typeof mae, n: string) => m.get(n)?.shape;
    assert.deepEqual(shape(mae, 'patch_embed.proj.weight'), [16, 3, 4, 4]);
    assert.deepEqual(shape(mae, 'pos_embed'), [1, 17, 16]);
    assert.deepEqual(shape(mae, 'blocks.1.attn.qkv.weight'), [48, 16]);
    assert.deepEqual(shape(mae, 'blocks.0.mlp.fc1.weight'), [32, 16]);
    assert.deepEqual(shape(mae, 'decoder_embed.weight'), [12, 16]);
    assert.deepEqual(shape(mae, 'decoder_pred.weight'), [48, 12]);
    assert.deepEqual(shape(mae, 'decoder_pos_embed'), [1, 17, 12]);
    for (const n of ['cls_token', 'mask_token', 'norm.weight', 'decoder_norm.bias', 'decoder_blocks.0.norm2.weight']) assert.ok(mae.has(n), n);
    assert.deepEqual(shape(hf, 'vit.embeddings.patch_embeddings.projection.weight'), [16, 3, 4, 4]);
    assert.deepEqual(shape(hf, 'vit.embeddings.position_embeddings'), [1, 17, 16]);
    assert.deepEqual(shape(hf, 'vit.encoder.layer.1.attention.attention.key.weight'), [16, 16]);
    assert.deepEqual(shape(hf, 'vit.encoder.layer.1.attention.attention.value.bias'), [16]);
    assert.deepEqual(shape(hf, 'decoder.decoder_layers.0.intermediate.dense.weight'), [24, 12]);
    for (const n of ['vit.embeddings.cls_token', 'vit.layernorm.weight', 'vit.encoder.layer.0.layernorm_before.bias',
      'vit.encoder.layer.0.layernorm_after.weight', 'vit.encoder.layer.0.attention.output.dense.weight', 'vit.encoder.layer.0.output.dense.bias',
      'decoder.mask_token', 'decoder.decoder_embed.weight', 'decoder.decoder_pos_embed', 'decoder.decoder_norm.weight', 'decoder.decoder_pred.bias']) {
      assert.ok(hf.has(n), n);
    }
    assert.equal(mae.size, model.params.length + 2);
    assert.equal(hf.size, model.params.length + 2 + 4 * 3); // qkv weight and bias each split in 3 (+2 + 2), in 2 + 1 blocks
    // The hf file holds what Hugging Face's convert_vit_mae_to_pytorch.py makes of the mae file
    // (the mae layout is checked against PyTorch in test/pytorch.test.ts): its rename rules, and
    // qkv's rows split into query, key and value.
    const renameKey = (n: string) => [
      [/cls_token/, 'vit.embeddings.cls_token'], [/^mask_token/, 'decoder.mask_token'], [/decoder_pos_embed/, 'decoder.decoder_pos_embed'],
      [/^pos_embed/, 'vit.embeddings.position_embeddings'], [/patch_embed\.proj/, 'vit.embeddings.patch_embeddings.projection'],
      [/decoder_blocks/, 'decoder.decoder_layers'], [/^blocks/, 'vit.encoder.layer'], [/attn\.proj/, 'attention.output.dense'],
      [/norm1/, 'layernorm_before'], [/norm2/, 'layernorm_after'], [/mlp\.fc1/, 'intermediate.dense'], [/mlp\.fc2/, 'output.dense'],
      [/^decoder_embed/, 'decoder.decoder_embed'], [/^decoder_norm/, 'decoder.decoder_norm'], [/^decoder_pred/, 'decoder.decoder_pred'],
      [/^norm\./, 'vit.layernorm.'],
    ].reduce((s, [from, to]) => s.replace(from as RegExp, to as string), n);
    const maeTensors = readAll(path.join(dir, 'mae.safetensors'));
    const hfTensors = readAll(path.join(dir, 'hf.safetensors'));
    let compared = 0;
    for (const [name, t] of maeTensors) {
      const qkv = /^(decoder_)?blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/.exec(name);
      if (!qkv) {
        assert.deepEqual(hfTensors.get(renameKey(name))?.values, t.values, `${name} → ${renameKey(name)}`);
        compared++;
        continue;
      }
      const block = `${qkv[1] ? 'decoder.decoder_layers' : 'vit.encoder.layer'}.${qkv[2]}`;
      const part = t.values.length / 3; // torch's [3D, D] (or [3D]): query rows, then key, then value
      ['query', 'key', 'value'].forEach((q, i) => {
        assert.deepEqual(hfTensors.get(`${block}.attention.attention.${q}.${qkv[3]}`)?.values, t.values.slice(i * part, (i + 1) * part), `${name} ${q}`);
        compared++;
      });
    }
    assert.equal(compared, hf.size);
    model.dispose();
  });

  it("the patch-embedding convolution weight computes, as a convolution, what magma-lab's matrix does on patchify", () => {
    const model = createMae(testConfig, { seed: 2 });
    const file = path.join(tempDir(), 'w.safetensors');
    model.saveWeights(file);
    const conv = SafetensorsFile.open(file).read('patch_embed.proj.weight'); // [D, C, p, p]
    const patchEmbed = model.params.find((p) => p.name === 'patch_embed.weight')!.variable;
    tf.tidy(() => {
      const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.transpose(tf.tensor4d(conv.values, conv.shape as [number, number, number, number]), [2, 3, 1, 0]) as tf.Tensor4D; // [p, p, C, D]
      const byConv = tf.reshape(tf.conv2d(images, filter, 4, 'valid'), [2, 16, 16]);
      const byMatrix = tf.matMul(tf.reshape(model.patchify(images), [32, 48]), patchEmbed);
      assert.ok(tf.max(tf.abs(tf.sub(tf.reshape(byConv, [32, 16]), byMatrix))).dataSync()[0] < 1e-5);
    });
    model.dispose();
  });

  it('a file without magma-lab metadata: shapes give the config, heads must be given and are named when not, ε is the layout\'s', () => {
    const model = createMae(testConfig, { seed: 4 });
    const dir = tempDir();
    const saved = path.join(dir, 'saved.safetensors');
    model.saveWeights(saved);
    const plain = rewrite(readAll(saved), path.join(dir, 'plain.safetensors')); // as PyTorch would write it
    assert.throws(() => loadPretrained(plain, quiet), (e: Error) => e instanceof PretrainedError &&
      /the weights do not tell encoderHeads .*plain\.safetensors.*loadPretrained\(file, \{encoderHeads: …\}\)/.test(e.message));
    assert.throws(() => loadPretrained(plain, { ...quiet, encoderHeads: 2 }), /do not tell decoderHeads/);
    const loaded = loadPretrained(plain, { ...quiet, encoderHeads: 2, decoderHeads: 2 });
    const { encoderNormEps, decoderNormEps, normPixLoss, ...shapes } = loaded.config;
    const { encoderNormEps: _e, decoderNormEps: _d, normPixLoss: _n, ...expected } = model.config;
    assert.deepEqual(shapes, expected);
    assert.deepEqual([encoderNormEps, decoderNormEps], [1e-6, 1e-6], "models_mae.py's ε, decoder included");
    assert.ok(loaded.origin!.assumed.some((a) => a.startsWith('decoderNormEps = 0.000001')), loaded.origin!.assumed.join('; '));
    // A Hugging Face config.json beside an hf file gives heads, ε and the loss settings.
    const hfDir = path.join(dir, 'hf');
    const hfFile = path.join(hfDir, 'model.safetensors');
    model.saveWeights(path.join(dir, 'hf-saved.safetensors'), { layout: 'hf' });
    fs.mkdirSync(hfDir);
    rewrite(readAll(path.join(dir, 'hf-saved.safetensors')), hfFile);
    assert.throws(() => loadPretrained(hfFile, quiet), /encoderHeads/);
    fs.writeFileSync(path.join(hfDir, 'config.json'), JSON.stringify({ num_attention_heads: 2, decoder_num_attention_heads: 2, layer_norm_eps: 1e-12, norm_pix_loss: true, mask_ratio: 0.6 }));
    const hf = loadPretrained(hfFile, quiet);
    assert.deepEqual([hf.config.encoderHeads, hf.config.decoderHeads, hf.config.encoderNormEps, hf.config.decoderNormEps, hf.config.maskRatio], [2, 2, 1e-12, 1e-12, 0.6]);
    [model, loaded, hf].forEach((m) => m.dispose());
  });

  it('an encoder-only file (ViTMAEModel names, without "vit.") loads for features and says so; reconstruction names the problem', () => {
    const model = createMae(testConfig, { seed: 5 });
    const dir = tempDir();
    model.saveWeights(path.join(dir, 'full.safetensors'), { layout: 'hf' });
    const encoderOnly = rewrite(readAll(path.join(dir, 'full.safetensors')), path.join(dir, 'encoder.safetensors'),
      (n) => (n.startsWith('decoder.') ? null : n.replace(/^vit\./, '')));
    const lines: string[] = [];
    const loaded = loadPretrained(encoderOnly, { encoderHeads: 2, encoderNormEps: 1e-6, log: (l) => lines.push(l) });
    assert.equal(loaded.hasDecoder, false);
    assert.match(lines[0], /ENCODER ONLY \(features, attention and PCA work; no decoder, so no reconstruction\)/);
    const images = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const [a, b] = [model.features(images), loaded.features(images)];
    assert.deepEqual(b.dataSync(), a.dataSync());
    const masking = loaded.randomMasking(new Rng(1), 3);
    assert.throws(() => tf.tidy(() => { loaded.forward(images, masking); }), /this model has no decoder: its weights \(.*encoder\.safetensors\) are an encoder alone/);
    tf.dispose([images, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('the mask-token ablation, tensors the model does not use, learned positions and mismatched shapes', () => {
    const ablation = createMae({ ...testConfig, maskTokenInEncoder: true }, { seed: 6 });
    const dir = tempDir();
    const file = path.join(dir, 'ablation.safetensors');
    ablation.saveWeights(file);
    const loaded = loadPretrained(file, quiet);
    assert.equal(loaded.config.maskTokenInEncoder, true);
    assert.deepEqual(outputs(loaded), outputs(ablation));
    loaded.dispose();
    const tensors = readAll(file);
    // A fine-tuned classifier's head is reported as ignored.
    tensors.set('head.weight', { shape: [10, 16], values: new Float32Array(160) });
    const withHead = rewrite(tensors, path.join(dir, 'head.safetensors'), (n) => n, SafetensorsFile.open(file).metadata);
    const lines: string[] = [];
    loadPretrained(withHead, { log: (l) => lines.push(l) }).dispose();
    assert.match(lines[0], /ignored head\.weight/);
    // A learned (non sin-cos) positional embedding is refused.
    tensors.delete('head.weight');
    const pos = tensors.get('pos_embed')!;
    tensors.set('pos_embed', { shape: pos.shape, values: pos.values.map((v, i) => v + (i === 20 ? 0.5 : 0)) });
    const learned = rewrite(tensors, path.join(dir, 'learned.safetensors'), (n) => n, SafetensorsFile.open(file).metadata);
    assert.throws(() => loadPretrained(learned, quiet), /differs from MAE's fixed 2-D sin-cos embedding by up to 0\.500.*fixed sin-cos embedding only/);
    tensors.set('pos_embed', pos);
    // A tensor of the wrong shape names itself and both shapes.
    tensors.set('blocks.1.mlp.fc2.weight', { shape: [16, 16], values: new Float32Array(256) });
    const mixed = rewrite(tensors, path.join(dir, 'mixed.safetensors'), (n) => n, SafetensorsFile.open(file).metadata);
    assert.throws(() => loadPretrained(mixed, quiet), /tensor 'blocks\.1\.mlp\.fc2\.weight' is \[16, 16\] where a model of the inferred config needs \[16, 32\]/);
    assert.throws(() => loadPretrained(path.join(dir, 'missing.safetensors'), quiet), /no such file \(.*missing\.safetensors\)/);
    const numTensors = tf.memory().numTensors;
    assert.throws(() => loadPretrained(mixed, quiet));
    assert.equal(tf.memory().numTensors, numTensors, 'a failed load frees the model it built');
    ablation.dispose();
  });
});

describe('safetensors reader on crafted files', function () {
  this.timeout(60000);
  const dir = tempDir();
  /** A file of `header` (a JSON string or object) with `data` bytes after it, and an optional header-length override. */
  const craft = (name: string, header: unknown, data = 0, length?: bigint): string => {
    const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(length ?? BigInt(text.length));
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.concat([prefix, text, Buffer.alloc(data)]));
    return file;
  };
  const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, () => string, RegExp][] = [
    ['shorter than 8 bytes', () => { const f = path.join(dir, 'tiny'); fs.writeFileSync(f, 'abc'); return f; }, /it has 3 bytes, fewer than the 8/],
    ['a header length past the end', () => craft('long', {}, 0, 1000n), /header length 1000 is more than the 2 bytes after it/],
    ['a header length of 2^63', () => craft('huge', {}, 0, 1n << 63n), /header length 9223372036854775808 is more than/],
    ['a header that is not JSON', () => craft('json', '{"a": [1, 2'), /its header is not JSON/],
    ['a header that is a list', () => craft('list', [1, 2]), /its header is not a JSON object/],
    ['an unknown dtype', () => craft('dtype', { a: t('Q8', [1], [0, 1]) }, 1), /tensor 'a' has dtype "Q8"; this reader takes F64, F32/],
    ['a negative size', () => craft('negative', { a: t('F32', [-1, 4], [0, 16]) }, 16), /shape \[-1,4\], not a list of sizes ≥ 0/],
    ['data past the end', () => craft('past', { a: t('F32', [4], [0, 16]) }, 8), /tensor 'a' ends at byte 16 of a data part of 8 bytes/],
    ['a shape needing far more than the file', () => craft('big', { a: t('F32', [1e9, 1e9], [0, 16]) }, 16), /shape \[1000000000, 1000000000\] needs more bytes than the file holds/],
    ['a shape that disagrees with its offsets', () => craft('disagree', { a: t('F32', [3], [0, 16]) }, 16), /needs 12 bytes, but its data_offsets span 16/],
    ['reversed offsets', () => craft('reversed', { a: t('F32', [0], [8, 4]) }, 16), /data_offsets \[8,4\], not \[begin, end\]/],
    ['overlapping tensors', () => craft('overlap', { a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12), /tensors 'a' and 'b' overlap/],
    ['metadata that is not strings', () => craft('meta', { __metadata__: { n: 1 } }), /its __metadata__ is not a map of strings/],
  ];
  for (const [what, make, message] of cases) {
    it(`${what}: a SafetensorsError naming the file and the problem`, () => {
      const file = make();
      assert.throws(() => SafetensorsFile.open(file), (e: Error) => e instanceof SafetensorsError && message.test(e.message) && e.message.includes(file));
    });
  }

  it('random corruption of a real weights file never crashes the reader: it loads, or throws one of its own errors', async () => {
    await useBackend('cpu');
    const model = createMae(testConfig, { seed: 8 });
    const good = path.join(dir, 'good.safetensors');
    model.saveWeights(good);
    model.dispose();
    const bytes = fs.readFileSync(good);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    const rng = new Rng(11);
    const seen = new Set<string>();
    for (let trial = 0; trial < 200; trial++) {
      const corrupt = Buffer.from(bytes);
      // Flip bytes in the length and the header (where a crafted file does harm), or cut the file.
      if (trial % 4 === 3) {
        fs.writeFileSync(path.join(dir, 'corrupt'), corrupt.subarray(0, rng.int(bytes.length)));
      } else {
        for (let k = 0; k < 1 + rng.int(3); k++) corrupt[rng.int(headerEnd)] = rng.int(256);
        fs.writeFileSync(path.join(dir, 'corrupt'), corrupt);
      }
      try {
        loadPretrained(path.join(dir, 'corrupt'), { ...quiet, encoderHeads: 2, decoderHeads: 2 }).dispose();
        seen.add('loaded');
      } catch (e) {
        assert.ok(e instanceof SafetensorsError || e instanceof PretrainedError, `trial ${trial}: ${(e as Error).name}: ${(e as Error).message}`);
        seen.add((e as Error).name);
      }
    }
    assert.ok(seen.has('SafetensorsError'), [...seen].join());
  });
});
