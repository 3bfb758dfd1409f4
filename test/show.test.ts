/**
 * The display helpers without a kernel: every helper returns a bundle with the expected MIME
 * types; PNGs have the right size and are not blank; vega-lite specs compile; reconstructions
 * paste the visible patches back exactly; progress falls back to a terminal line; nothing leaks.
 * A fake tslab module in the module cache stands in for the kernel where sending is tested.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { inspect } from 'util';
import * as tf from '@tensorflow/tfjs';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { compile } from 'vega-lite';
import { channelStats, type Batch } from '../src/data/dataset';
import { batchToTensor } from '../src/data/tensor';
import { createMae, type Mae } from '../src/nn/mae';
import { patchify } from '../src/nn/patches';
import { Rng } from '../src/random';
import type { StepRecord } from '../src/train/trainer';
import * as show from '../src/show';
import { type DisplayMessage, serializeSends } from '../src/show/kernel';
import { viridis } from '../src/show/raster';
import { assertClose, tempDir, testConfig, useBackend } from './helpers';

/** A decoded PNG: size and RGBA bytes. */
async function decodePng(bundle: show.DisplayBundle): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> {
  const png = bundle.data[show.MIME.png];
  assert.equal(typeof png, 'string', 'the bundle has a base64 image/png');
  const image = await loadImage(Buffer.from(png as string, 'base64'));
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  return { width: image.width, height: image.height, rgba: ctx.getImageData(0, 0, image.width, image.height).data };
}

/** Asserts that the PNG is not one flat color (variance of its pixels > 0). */
function assertNotBlank(rgba: Uint8ClampedArray): void {
  let sum = 0;
  let sq = 0;
  for (const v of rgba) {
    sum += v;
    sq += v * v;
  }
  assert.ok(sq / rgba.length - (sum / rgba.length) ** 2 > 0, 'the PNG is blank');
}

/** Random uint8 images [n, size, size, channels] as a Batch with their own statistics. */
function syntheticBatch(n: number, size = 16, channels = 3, seed = 0): Batch {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: n * size * size * channels }, () => rng.int(256));
  return {
    images, labels: Int32Array.from({ length: n }, (_, i) => i % 3), indices: Int32Array.from({ length: n }, (_, i) => i),
    shape: [n, size, size, channels], stats: channelStats(images, [size, size, channels]),
  };
}

/** The first n images of a batch. */
function sliceBatchOf(batch: Batch, n: number): Batch {
  const per = batch.shape[1] * batch.shape[2] * batch.shape[3];
  return { ...batch, images: batch.images.slice(0, n * per), labels: batch.labels.slice(0, n), indices: batch.indices.slice(0, n), shape: [n, batch.shape[1], batch.shape[2], batch.shape[3]] };
}

/** Runs f and asserts that it leaves no new tensor behind. */
async function noLeak<T>(f: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await f();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return out;
}

function assertMimes(bundle: show.DisplayBundle, mimes: string[]): void {
  assert.deepEqual(Object.keys(bundle.data).sort(), [...mimes].sort());
}

const GAP = 4; // the grid's gap between tiles (src/show/grid.ts)

function history(n: number, withMagma = false): StepRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1, epoch: 0, loss: 2 / (i + 1),
    parts: (withMagma ? { reconstruction: 1.5 / (i + 1), magma: 0.5 / (i + 1) } : { reconstruction: 2 / (i + 1) }) as Record<string, number>,
    lr: 1e-4 * (i + 1), batchSize: 8, ms: 10, gamma: 3 + Math.sin(i),
    ...(withMagma ? { lambda: 1 } : {}),
    ...(i % 5 === 4 ? {
      probe: {
        images: 8, blockNorms: [4, 5], clsNorm: 6, uniformity: 0.3,
        layers: [{ block: 0, gamma: 2, lambda2: 0.5 + i / 100, spectralGap: 0.5 + i / 100, laplacianEnergy: 3, laplacianChange: i > 4 ? 0.1 : null, affinityChange: i > 4 ? 1 : null, featureNorm: 4 }],
      },
    } : {}),
  }));
}

describe('show: display bundles', () => {
  let model: Mae;
  before(async () => {
    await useBackend('cpu');
    model = createMae(testConfig, { seed: 0 }); // 16×16×3, patch 4 (4×4 grid), 2 blocks, 2 heads
  });
  after(() => model.dispose());

  it('are plain data that describe themselves, and display() is a no-op outside a kernel', () => {
    const b = show.table([{ a: 1 }]);
    assert.deepEqual(JSON.parse(JSON.stringify(b)), { data: b.data });
    assert.equal(show.inKernel(), false);
    assert.equal(show.display(b), false);
    assert.equal(inspect(b), b.data[show.MIME.text]);
  });

  it('images: a PNG grid of the right size with the pixels as given', async () => {
    const batch = syntheticBatch(6, 16, 3);
    const b = show.images(batch, { cols: 4, scale: 2 });
    assertMimes(b, [show.MIME.png, show.MIME.text]);
    const { width, height, rgba } = await decodePng(b);
    assert.equal(width, GAP + 4 * (32 + GAP));
    assert.equal(height, GAP + 2 * (32 + GAP));
    assertNotBlank(rgba);
    // Pixel (y, x) of image 5 (row 1, column 1) is drawn at 2×2 screen pixels.
    const [y, x] = [7, 11];
    const top = GAP + (32 + GAP) + 2 * y + 1;
    const left = GAP + (32 + GAP) + 2 * x + 1;
    const at = (top * width + left) * 4;
    assert.deepEqual(Array.from(rgba.subarray(at, at + 3)), Array.from(batch.images.subarray(((5 * 16 + y) * 16 + x) * 3, ((5 * 16 + y) * 16 + x) * 3 + 3)));
  });

  it('images: captions and float images; bad inputs are explained', async () => {
    const floats = { images: Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => (i % 8) / 7), shape: [2, 8, 8, 1] as const };
    const b = show.images(floats, { labels: ['left', 'right'] });
    const { height } = await decodePng(b);
    assert.ok(height > GAP + 8 * 12 + GAP, 'room for the captions');
    assert.throws(() => show.images(floats, { labels: ['one'] }), /1 labels for 2 images/);
    const { width } = await decodePng(show.images(floats, { cols: 1, rowLabels: ['first row', 'second row'] }));
    assert.ok(width > GAP + 8 * 12 + GAP + 40, `room for the row labels: ${width} px`);
    assert.throws(() => show.images(floats, { cols: 1, rowLabels: ['one'] }), /1 row labels for 2 rows of 1 images/);
    assert.throws(() => show.images({ images: new Uint8Array(2 * 4 * 4 * 2), shape: [2, 4, 4, 2] }), /1 \(gray\) or 3 \(RGB\) channels/);
  });

  it('reconstructions: four panels per image; the pasted panel equals the original at visible patches', async () => {
    const batch = syntheticBatch(3);
    const panels = await noLeak(() => show.reconstruct(model, batch, { seed: 1 }));
    const { grid, tokens } = model;
    assert.equal(panels.keep, Math.floor(tokens * 0.25));
    const gridPanels = await noLeak(() => show.reconstruct(model, batch, { maskSampling: 'grid' }));
    assert.deepEqual(Array.from(gridPanels.mask.subarray(0, tokens)), Array.from({ length: tokens }, (_, l) => (Math.floor(l / grid) % 2 === 0 && l % 2 === 0 ? 0 : 1)));
    for (let i = 0; i < 3; i++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const removed = panels.mask[i * tokens + Math.floor(y / 4) * grid + Math.floor(x / 4)] === 1;
          for (let c = 0; c < 3; c++) {
            const k = (y * 16 + x) * 3 + c;
            const original = Math.fround(batch.images[i * 768 + k] / 255); // rasters are float32
            assert.equal(panels.pasted[i].pixels[k], removed ? panels.reconstruction[i].pixels[k] : original, `image ${i} pixel (${y}, ${x}) channel ${c}`);
            if (!removed) assert.equal(panels.masked[i].pixels[k], original);
          }
        }
      }
    }
    const b = await noLeak(() => show.reconstructions(model, batch, { seed: 1, scale: 1 }));
    assertMimes(b, [show.MIME.png, show.MIME.text]);
    const { width, height, rgba } = await decodePng(b);
    assert.ok(width >= GAP + 4 * (16 + GAP) && height > 3 * (16 + GAP), `size ${width}×${height}`);
    assertNotBlank(rgba);
    assert.match(b.data[show.MIME.text] as string, /3 images: 75 % of the patches removed \(4 of 16 visible/);
  });

  for (const normPixLoss of [true, false]) {
    it(`reconstructions: a decoder predicting the exact target gives back the image (normPixLoss ${normPixLoss})`, async () => {
      // The oracle returns the loss's target: patches standardized per patch (mean, unbiased variance) when normPixLoss.
      const oracle = createMae({ ...testConfig, normPixLoss }, { seed: 0 });
      let input: tf.Tensor4D | undefined;
      const encode = oracle.forwardEncoder.bind(oracle);
      oracle.forwardEncoder = (images, masking, opts) => ((input = images), encode(images, masking, opts));
      oracle.forwardDecoder = () => {
        const target = patchify(input!, 4);
        if (!normPixLoss) return target;
        const mean = tf.mean(target, -1, true);
        const variance = tf.div(tf.sum(tf.square(tf.sub(target, mean)), -1, true), target.shape[2] - 1);
        return tf.div(tf.sub(target, mean), tf.sqrt(tf.add(variance, 1e-6))) as tf.Tensor3D;
      };
      const batch = syntheticBatch(2, 16, 3, 5);
      const panels = await noLeak(() => show.reconstruct(oracle, batch));
      assert.ok(panels.loss < 1e-9, `loss ${panels.loss}`);
      panels.reconstruction.forEach((r, i) => assertClose(r.pixels, Array.from(batch.images.subarray(i * 768, (i + 1) * 768), (v) => v / 255), 0, 1e-4, `image ${i}`));
      oracle.dispose();
    });
  }

  it('curves: one vega-lite chart (spec that compiles + PNG + text), several runs overlaid', async () => {
    const b = await show.curves({ mae: history(12), 'm-mae': history(10, true) });
    assertMimes(b, [show.MIME.vegaLite, show.MIME.png, show.MIME.text]);
    const spec = b.data[show.MIME.vegaLite] as show.VegaLiteSpec & { data: { values: { run: string; metric: string }[] } };
    assert.ok(compile(spec).spec, 'vega-lite compiles the spec');
    const metrics = new Set(spec.data.values.map((v) => v.metric));
    for (const m of ['loss (total)', 'loss: reconstruction', 'loss: magma', 'learning rate', 'λ (MAGMA weight)', 'γ, training batch', 'γ, probe batch',
      'λ₂ of the Laplacian (probe)', '‖W − W_prev‖F (probe)', 'reference-block norm (probe)', 'CLS feature norm (probe)', 'uniformity of CLS (probe)']) assert.ok(metrics.has(m), m);
    assert.ok(!metrics.has('spectral gap λ₂ − λ₁ (probe)'), 'the spectral gap (= λ₂, as λ₁ = 0) is not drawn twice by default');
    assert.deepEqual([...new Set(spec.data.values.map((v) => v.run))], ['mae', 'm-mae']);
    const { color, strokeDash } = (spec as unknown as { spec: { encoding: Record<string, { field: string; scale: { domain: string[] } }> } }).spec.encoding;
    assert.deepEqual(color.scale.domain, ['mae', 'm-mae'], 'legend in the order the runs were given, not alphabetical');
    assert.deepEqual([strokeDash.field, strokeDash.scale.domain], ['run', ['mae', 'm-mae']], 'a dash pattern per run keeps equal curves visible');
    const vega = compile(spec).spec as { legends?: object[] };
    assert.equal(vega.legends?.length, 1, 'one legend for color and dash');
    assert.ok(!JSON.stringify(vega).includes('"name":"column_footer"'), 'x axes drawn under each panel, not in a footer row (orphan axis under an empty slot)');
    const { width, height, rgba } = await decodePng(b);
    assert.deepEqual(b.metadata?.[show.MIME.png], { width: width / 2, height: height / 2 });
    assertNotBlank(rgba);
  });

  it('curves: picks keys, averages long histories, names missing keys', async () => {
    const b = await show.curves(history(50), { keys: ['loss', 'lambda2'], maxPoints: 10 });
    const values = (b.data[show.MIME.vegaLite] as { data: { values: { metric: string; step: number }[] } }).data.values;
    assert.equal(values.filter((v) => v.metric === 'loss (total)').length, 10);
    assert.equal(values.filter((v) => v.metric === 'λ₂ of the Laplacian (probe)').length, 10);
    await assert.rejects(show.curves(history(5), { keys: ['magma'] }), /no values for magma/);
  });

  it('layerPca: one map per block, three components explaining a 3-D cloud fully', async () => {
    // 12 tokens in 10 dimensions spanning a 3-D subspace: three components explain everything.
    const rng = new Rng(3);
    const basis = Array.from({ length: 3 }, () => Array.from({ length: 10 }, () => rng.normal()));
    const tokens = Float32Array.from({ length: 120 }, (_, k) => {
      const [i, j] = [Math.floor(k / 10), k % 10];
      return basis.reduce((s, b, c) => s + Math.sin(i * (c + 1)) * b[j], 0);
    });
    const { scores, explained } = show.principalScores(tokens, 12, 10);
    assert.ok(Math.abs(explained - 1) < 1e-9, `explained ${explained}`);
    assert.equal(scores.length, 36);

    const batch = syntheticBatch(2);
    const maps = await noLeak(() => show.pcaMaps(model, batch));
    assert.equal(maps.length, 2);
    assert.equal(maps[0].length, testConfig.encoderDepth);
    assert.deepEqual([maps[0][0].map.height, maps[0][0].map.width, maps[0][0].map.channels], [16, 16, 3]);
    const b = await noLeak(() => show.layerPca(model, batch, { scale: 2 }));
    assertMimes(b, [show.MIME.png, show.MIME.text]);
    const one = await decodePng(b);
    assertNotBlank(one.rgba);
    assert.ok(one.width >= GAP + 3 * (32 + GAP), 'input + 2 blocks');
    const other = createMae(testConfig, { seed: 1 });
    const compared = await decodePng(await noLeak(() => show.layerPcaCompare({ a: model, b: other, c: model }, batch, { scale: 2 })));
    assert.ok(compared.height > one.height, 'three model rows are taller than two image rows');
    other.dispose();
  });

  it('attention: the input, every head and their mean for one block', async () => {
    const b = await noLeak(() => show.attention(model, syntheticBatch(2), { block: -1, scale: 2 }));
    assertMimes(b, [show.MIME.png, show.MIME.text]);
    const { width, rgba } = await decodePng(b);
    assert.ok(width >= GAP + 4 * (32 + GAP), 'input + 2 heads + mean');
    assertNotBlank(rgba);
    assert.match(b.data[show.MIME.text] as string, /block 2 of 2 \(2 heads/);
    assert.throws(() => show.attention(model, syntheticBatch(1), { block: 2 }), /block 2 does not exist: the encoder has 2 blocks/);
    assert.throws(() => show.attention(model, syntheticBatch(1), { range: 'global' as 'shared' }), /range must be 'shared' or 'per-map', got "global"/);
  });

  it('attention: one colour scale, 0 to the largest weight drawn, with its colour bar; or each map on its own', async () => {
    const batch = syntheticBatch(2);
    const shared = await noLeak(() => show.attention(model, batch, { scale: 2 }));
    const perMap = await noLeak(() => show.attention(model, batch, { scale: 2, range: 'per-map' }));
    // The largest CLS→patch weight of the last block, computed here on its own.
    const largest = tf.tidy(() => {
      const { attention } = model.forwardEncoder(batchToTensor(batch), null, { attention: true });
      return tf.max(tf.slice(attention![model.config.encoderDepth - 1], [0, 0, 0, 1], [2, model.config.encoderHeads, 1, model.tokens])).dataSync()[0];
    });
    assert.match(shared.data[show.MIME.text] as string, new RegExp(`one scale for every map, 0 to ${largest.toPrecision(3).replace('.', '\\.')}`));
    assert.match(perMap.data[show.MIME.text] as string, /each map min\.\.max/);
    const a = await decodePng(shared);
    const b = await decodePng(perMap);
    assert.ok(a.height > b.height, 'the colour bar adds height');
    // Map tiles are blended with the image; only the colour bar shows the colormap's pure ends.
    const has = (rgba: Uint8ClampedArray, [r, g, bl]: number[]) => {
      for (let i = 0; i < rgba.length; i += 4) if (Math.abs(rgba[i] - r) <= 2 && Math.abs(rgba[i + 1] - g) <= 2 && Math.abs(rgba[i + 2] - bl) <= 2) return true;
      return false;
    };
    const ends = [viridis(0), viridis(1)].map((c) => c.map((v) => Math.round(255 * v)));
    for (const end of ends) {
      assert.ok(has(a.rgba, end), `the colour bar's end ${end} is drawn`);
      assert.ok(!has(b.rgba, end), `no colour bar per map, yet ${end} is drawn`);
    }
  });

  it('foregroundPatches: background patches are those whose every pixel is within the tolerance of the background', () => {
    // Two 8×8 gray images, patch 4 (2×2 patches). Image 0: black, one bright pixel in patch 1 and a faint one (0.05) in patch 2.
    // Image 1: white background (its border), a dark pixel in patch 3.
    const images = new Float32Array(2 * 64);
    images[1 * 8 + 6] = 0.9;
    images[6 * 8 + 1] = 0.05;
    images.fill(1, 64);
    images[64 + 5 * 8 + 5] = 0.2;
    const batch = { images, shape: [2, 8, 8, 1] as const };
    assert.deepEqual(Array.from(show.foregroundPatches(batch, 4)), [0, 1, 0, 0, 0, 0, 0, 1], "'border': black for image 0, white for image 1");
    assert.deepEqual(Array.from(show.foregroundPatches(batch, 4, { tolerance: 0.01 })), [0, 1, 1, 0, 0, 0, 0, 1], 'a tighter tolerance keeps the faint pixel');
    assert.deepEqual(Array.from(show.foregroundPatches(batch, 4, { background: 0 })), [0, 1, 0, 0, 1, 1, 1, 1], 'a fixed black background: all of the white image is foreground');
    // uint8 RGB: one channel away from the background is enough.
    const rgb = new Uint8Array(1 * 4 * 4 * 3);
    rgb[(0 * 4 + 3) * 3 + 2] = 200;
    assert.deepEqual(Array.from(show.foregroundPatches({ images: rgb, shape: [1, 4, 4, 3] }, 2, { background: 0 })), [0, 1, 0, 0]);
    assert.throws(() => show.foregroundPatches(batch, 3), /patch 3 must be a positive integer dividing the image's 8×8 pixels/);
    assert.throws(() => show.foregroundPatches(batch, 4, { background: 2 }), /background must be a value in 0\.\.1 or 'border', got 2/);
    assert.throws(() => show.foregroundPatches(batch, 4, { tolerance: -1 }), /tolerance must be ≥ 0/);
  });

  it('topComponents: the top principal component per block and image, of every patch or of the foreground alone', async () => {
    const batch = syntheticBatch(3);
    // Black out the top row of patches of every image: background for foreground fits.
    for (let i = 0; i < 3; i++) batch.images.fill(0, i * 16 * 16 * 3, i * 16 * 16 * 3 + 4 * 16 * 3);
    const l = model.tokens;
    const d = model.config.encoderWidth;
    const tokens = tf.tidy(() => model.forwardEncoder(batchToTensor(batch), null).blocks.map((b) => tf.slice(b, [0, 1, 0], [3, l, d]).dataSync() as Float32Array));
    const all = await noLeak(() => show.topComponents(model, batch));
    assert.equal(all.length, 3);
    assert.equal(all[0].length, testConfig.encoderDepth);
    for (const [i, b] of [[0, 0], [2, 1]]) {
      const three = show.principalScores(tokens[b].subarray(i * l * d, (i + 1) * l * d), l, d);
      assert.equal(all[i][b].fitted, l);
      assertClose(Float32Array.from(all[i][b].scores), Float32Array.from({ length: l }, (_, t) => three.scores[t * 3]), 1e-9, 1e-9);
      assert.ok(all[i][b].explained > 0 && all[i][b].explained < three.explained);
    }
    const fg = show.topComponents(model, batch, { foreground: { background: 0, tolerance: 0 } });
    const kept = Array.from({ length: l }, (_, t) => t).filter((t) => t >= 4); // the 12 patches below the black row
    const rows = Float32Array.from(kept.flatMap((t) => Array.from(tokens[1].subarray((1 * l + t) * d, (1 * l + t + 1) * d))));
    const own = show.principalScores(rows, kept.length, d, 1);
    assert.equal(fg[1][1].fitted, 12);
    assert.ok(Array.from(fg[1][1].scores.subarray(0, 4)).every(Number.isNaN), 'background patches are NaN');
    assertClose(Float32Array.from(fg[1][1].scores.subarray(4)), Float32Array.from(own.scores), 1e-9, 1e-9);
    assert.ok(Math.abs(fg[1][1].explained - own.explained) < 1e-12);
    assert.throws(() => show.principalScores(rows, kept.length, d, 13), /components must be an integer in 1\.\.12/);
  });

  it('layerPcaTop: one row per model and image, the foreground column and gray background, one colour bar', async () => {
    const batch = syntheticBatch(2);
    for (let i = 0; i < 2; i++) batch.images.fill(0, i * 16 * 16 * 3, i * 16 * 16 * 3 + 4 * 16 * 3);
    const other = createMae(testConfig, { seed: 1 });
    const masked = await noLeak(() => show.layerPcaTop({ a: model, b: other }, batch, { scale: 2, foreground: { background: 0 } }));
    const plain = await noLeak(() => show.layerPcaTop({ a: model }, batch, { scale: 2, foreground: false }));
    other.dispose();
    assertMimes(masked, [show.MIME.png, show.MIME.text]);
    assert.match(masked.data[show.MIME.text] as string, /fitted on the foreground patches \(background gray\); one row per model \(a, b\) and image \(2\)/);
    assert.match(plain.data[show.MIME.text] as string, /fitted on every patch/);
    const m = await decodePng(masked);
    const p = await decodePng(plain);
    assertNotBlank(m.rgba);
    assert.ok(m.width >= GAP + 4 * (32 + GAP), 'input, foreground and 2 blocks');
    assert.ok(m.height > p.height, 'four rows are taller than two');
    const gray = Math.round(255 * 0.82);
    const grayPixels = (rgba: Uint8ClampedArray) => {
      let count = 0;
      for (let i = 0; i < rgba.length; i += 4) if (rgba[i] === gray && rgba[i + 1] === gray && rgba[i + 2] === gray) count++;
      return count;
    };
    // The black top row of patches (4 patches of 8×8 screen pixels) is gray in the foreground column and both blocks of all 4 rows.
    assert.ok(grayPixels(m.rgba) >= 4 * 3 * 4 * 64, `background patches drawn gray: ${grayPixels(m.rgba)} gray pixels`);
    assert.ok(grayPixels(p.rgba) < 64, `no gray patch without the mask: ${grayPixels(p.rgba)} gray pixels (text edges)`);
    assert.throws(() => show.layerPcaTop({}, batch), /give at least one model/);
  });

  it('clsAttention: the CLS row of one block as numbers, in chunks, each head summing to 1 with its self-weight', async () => {
    const batch = syntheticBatch(260, 16, 3, 5); // more than one chunk of 256
    const a = await noLeak(() => show.clsAttention(model, batch, { block: 0 }));
    assert.deepEqual([a.n, a.heads, a.tokens, a.block], [260, 2, 16, 0]);
    for (let k = 0; k < a.n * a.heads; k++) {
      const sum = a.self[k] + a.patches.subarray(k * a.tokens, (k + 1) * a.tokens).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${k} sums to ${sum}`);
    }
    // Image 258 (in the second chunk) against a pass of its own.
    const own = tf.tidy(() => {
      const { attention } = model.forwardEncoder(batchToTensor(batch).slice([258, 0, 0, 0], [1, 16, 16, 3]) as tf.Tensor4D, null, { attention: true });
      return tf.slice(attention![0], [0, 0, 0, 1], [1, 2, 1, 16]).dataSync() as Float32Array;
    });
    assertClose(a.patches.subarray(258 * 2 * 16, 259 * 2 * 16), own, 1e-5, 1e-5);
  });

  it('attentionCompare: every model on one colour scale, 0 to the largest weight of any of them, or a given max', async () => {
    const batch = syntheticBatch(2);
    const other = createMae(testConfig, { seed: 2 });
    const b = await noLeak(() => show.attentionCompare({ a: model, b: other }, batch, { scale: 2 }));
    const largest = Math.max(...[model, other].map((m) => Math.max(...show.clsAttention(m, batch).patches)));
    assert.match(b.data[show.MIME.text] as string, new RegExp(`one row per model \\(a, b\\) and image \\(2\\); one scale for every map of every model, 0 to ${largest.toPrecision(3).replace('.', '\\.')}`));
    const fixed = await noLeak(() => show.attentionCompare({ a: model, b: other }, batch, { scale: 2, max: 0.5, mean: false }));
    assert.match(fixed.data[show.MIME.text] as string, /\(2 heads\).*0 to 0\.500/);
    assert.match(b.data[show.MIME.text] as string, /\(2 heads and their mean\)/);
    const drawn = await decodePng(b);
    assertNotBlank(drawn.rgba);
    assert.ok(drawn.width >= GAP + 4 * (32 + GAP) && drawn.height >= GAP + 4 * (32 + GAP), 'input, 2 heads and the mean; 2 models × 2 images');
    assert.throws(() => show.attentionCompare({ a: model }, batch, { max: 0 }), /max must be a positive number, got 0/);
    assert.match(show.attention(model, batch, { max: 0.5 }).data[show.MIME.text] as string, /one scale for every map, 0 to 0\.500/);
    assert.throws(() => show.attentionCompare({ a: model }, batch, { colorScale: 'log' as 'sqrt' }), /colorScale must be 'linear' or 'sqrt', got "log"/);
    // Square-root colours: opaque maps (alpha 1) colour a weight w at viridis(√(w / max)), where the linear scale has viridis(w / max).
    const one = sliceBatchOf(batch, 1);
    const w = Math.max(...show.clsAttention(model, one).patches.subarray(0, model.tokens)); // head 1's largest weight
    const colour = (v: number) => viridis(v).map((c) => Math.round(255 * c));
    const sqrt = await decodePng(show.attentionCompare({ a: model }, one, { alpha: 1, max: 0.5, colorScale: 'sqrt', scale: 2 }));
    const linear = await decodePng(show.attentionCompare({ a: model }, one, { alpha: 1, max: 0.5, scale: 2 }));
    assert.match(show.attentionCompare({ a: model }, one, { colorScale: 'sqrt' }).data[show.MIME.text] as string, /one square-root scale for every map/);
    const count = (rgba: Uint8ClampedArray, [r, g, bl]: number[]) => {
      let n = 0;
      for (let i = 0; i < rgba.length; i += 4) if (Math.abs(rgba[i] - r) <= 1 && Math.abs(rgba[i + 1] - g) <= 1 && Math.abs(rgba[i + 2] - bl) <= 1) n++;
      return n;
    };
    assert.ok(count(sqrt.rgba, colour(Math.sqrt(w / 0.5))) >= 16, 'the square-root colour of the largest weight fills its patch');
    assert.ok(count(linear.rgba, colour(w / 0.5)) >= 16, 'the linear colour of the largest weight fills its patch');
    const deeper = createMae({ ...testConfig, encoderHeads: 4 }, { seed: 0 });
    assert.throws(() => show.attentionCompare({ a: model, d: deeper }, batch), /model 'd' has another patch grid or number of heads than 'a'/);
    deeper.dispose();
    other.dispose();
  });

  it('sweep: means with ±1 std and every seed per series (colour, dash and shape each), labelled baseline rules whose close labels do not overlap', async () => {
    const series = [
      { name: 'MAE', points: [{ x: 25, values: [70, 72, 71] }, { x: 75, values: [74, 75, 76] }] },
      { name: 'M-MAE', points: [{ x: 25, values: [69, 70, 71] }, { x: 75, values: [75, 76, 77] }] },
    ];
    const baselines = [{ label: 'from scratch', value: 78.72 }, { label: 'probe', value: 78.22 }, { label: 'raw pixels', value: 81.6 }];
    const b = await show.sweep(series, { x: 'mask ratio (%)', y: 'top-1 (%)', baselines });
    assertMimes(b, [show.MIME.vegaLite, show.MIME.png, show.MIME.text]);
    type Layer = { data?: { values: Record<string, unknown>[] }; layer?: Layer[]; mark: unknown; encoding?: Record<string, { scale?: { range?: unknown[] } }> };
    const spec = b.data[show.MIME.vegaLite] as unknown as { layer: Layer[] };
    assert.ok(compile(b.data[show.MIME.vegaLite] as show.VegaLiteSpec).spec);
    const [rules, errorBars, lines, seeds] = spec.layer;
    // Labels go above their rules, except below one whose rule is closer than a label's height to the rule above it.
    assert.deepEqual(rules.data!.values.map((v) => [v.label, v.below]), [['raw pixels', false], ['from scratch', false], ['probe', true]]);
    assert.deepEqual(errorBars.data!.values.map((r) => [r.series, r.x, r.mean, r.seeds]), [['MAE', 25, 71, 3], ['MAE', 75, 75, 3], ['M-MAE', 25, 70, 3], ['M-MAE', 75, 76, 3]]);
    assert.equal(seeds.data!.values.length, 12);
    assert.deepEqual(lines.encoding!.strokeDash.scale!.range, [[1, 0], [6, 3]]);
    assert.deepEqual(lines.encoding!.shape.scale!.range, ['circle', 'square']);
    assertNotBlank((await decodePng(b)).rgba);
    assert.match(b.data[show.MIME.text] as string, /MAE: 25 → 71\.00, 75 → 75\.00[\s\S]*raw pixels: 81\.60/);
    // Far apart, every label sits above its rule.
    const apart = await show.sweep(series, { x: 'x', y: 'y', baselines: [{ label: 'a', value: 60 }, { label: 'b', value: 90 }] });
    assert.ok(((apart.data[show.MIME.vegaLite] as typeof spec).layer[0].data!.values).every((v) => v.below === false));
    await assert.rejects(show.sweep([], { x: 'x', y: 'y' }), /give at least one series/);
  });

  it('similarity: heatmap of W and the Laplacian spectrum, from a tensor or plain numbers', async () => {
    const values = Float32Array.from({ length: 20 * 6 }, (_, i) => Math.sin(i * 1.7));
    const x = tf.tensor2d(values, [20, 6]);
    const b = await noLeak(() => show.similarity(x, { labels: Int32Array.from({ length: 20 }, (_, i) => i % 4) }));
    x.dispose();
    assertMimes(b, [show.MIME.vegaLite, show.MIME.png, show.MIME.text]);
    const spec = b.data[show.MIME.vegaLite] as show.VegaLiteSpec & { hconcat: { data: { values: unknown[] } }[] };
    assert.ok(compile(spec).spec);
    assert.equal(spec.hconcat[1].data.values.length, 400);
    assert.equal(spec.hconcat[0].data.values.length, 20);
    assertNotBlank((await decodePng(b)).rgba);
    const plain = await noLeak(() => show.similarity({ values, shape: [20, 6] }, { maxSide: 8 }));
    assert.equal(plain.data[show.MIME.text], b.data[show.MIME.text]);
    assert.equal((plain.data[show.MIME.vegaLite] as typeof spec).hconcat[1].data.values.length, 64);
  });

  it('spectrum and cka: normalized singular values per series (log scale) and a CKA heatmap on a fixed 0–1 scale', async () => {
    const rng = new Rng(4);
    const n = 200;
    const isotropic = { values: Float32Array.from({ length: n * 8 }, () => rng.normal()), n, dim: 8 };
    const collapsed = { values: Float32Array.from({ length: n * 8 }, (_, i) => (i % 8 < 2 ? 3 : 0.05) * rng.normal()), n, dim: 8 };
    const s = await show.spectrum({ isotropic, collapsed });
    assertMimes(s, [show.MIME.vegaLite, show.MIME.png, show.MIME.text]);
    assert.ok(compile(s.data[show.MIME.vegaLite] as show.VegaLiteSpec).spec);
    assert.match(s.data[show.MIME.text] as string, /isotropic \(effective rank (7\.[5-9]|8\.0) of 8\); collapsed \(effective rank [2-4]\.\d of 8\)/);
    assertNotBlank((await decodePng(s)).rgba);
    const c = await show.cka({ isotropic, collapsed, again: isotropic });
    assert.ok(compile(c.data[show.MIME.vegaLite] as show.VegaLiteSpec).spec);
    assert.match(c.data[show.MIME.text] as string, /isotropic: isotropic 1\.000, collapsed 0\.\d+, again 1\.000/);
    assertNotBlank((await decodePng(c)).rgba);
    if (process.env.MAGMA_LAB_SAVE_FIGURES) for (const [name, b] of [['spectrum', s], ['cka', c]] as const) fs.writeFileSync(path.join(process.env.MAGMA_LAB_SAVE_FIGURES, `${name}.png`), Buffer.from(b.data[show.MIME.png] as string, 'base64'));
    await assert.rejects(show.cka({ only: isotropic }), /needs at least two/);
    // Past 200 values the lines carry no point markers, and no point shape: vega-lite would warn (on
    // stderr, which fails a notebook) that a line has no shape.
    const wide = { values: Float32Array.from({ length: 300 * 128 }, () => rng.normal()), n: 300, dim: 128 };
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => { warnings.push(args.join(' ')); };
    let many: show.DisplayBundle;
    try {
      many = await show.spectrum({ a: wide, b: wide });
    } finally {
      console.warn = warn;
    }
    const manySpec = many.data[show.MIME.vegaLite] as { mark: { point: boolean }; encoding: Record<string, unknown> };
    assert.equal(manySpec.mark.point, false);
    assert.ok(!('shape' in manySpec.encoding) && 'strokeDash' in manySpec.encoding);
    assert.deepEqual(warnings, []);
  });

  it('table and compare: HTML, Markdown and aligned text with the difference ours − paper', () => {
    const t = show.table([{ method: 'mae <b>', acc: 0.5 }, { method: 'm-mae', acc: 0.625, extra: 3 }], { digits: 3, caption: 'k-NN' });
    assertMimes(t, [show.MIME.html, show.MIME.markdown, show.MIME.text]);
    assert.match(t.data[show.MIME.html] as string, /<caption>k-NN<\/caption>/);
    assert.match(t.data[show.MIME.html] as string, /mae &lt;b&gt;/);
    assert.match(t.data[show.MIME.markdown] as string, /\| method \| acc \| extra \|\n\| :--- \| ---: \| ---: \|/);
    assert.match(t.data[show.MIME.text] as string, /m-mae\s+0\.625\s+3/);
    const c = show.compare({ knn: 81.25, probe: 80 }, { knn: 86.5, linear: 88 }, { ours: 'ours (1 epoch)', digits: 2 });
    const text = c.data[show.MIME.text] as string;
    assert.match(text, /metric\s+ours \(1 epoch\)\s+paper\s+ours \(1 epoch\) − paper/);
    assert.match(text, /knn\s+81\.25\s+86\.50\s+-5\.25/);
    assert.match(text, /probe\s+80\.00\s+–\s+–/);
    assert.match(text, /linear\s+–\s+88\.00\s+–/);
    const whole = show.compare({ knn: 81.25 }, { knn: 86 }, { digits: 2 }).data[show.MIME.text] as string;
    assert.match(whole, /knn\s+81\.25\s+86\.00\s+-4\.75/, 'a whole paper number gets the same decimals as ours');
    const nested = show.table({ knn: { k: 10, cosine: { accuracy: 0.8 } } });
    assert.match(nested.data[show.MIME.text] as string, /knn\.cosine\.accuracy\s+0\.8000/);
  });

  it('save: PNG bytes as is, SVG (vector chart or embedded PNG), standalone HTML', async () => {
    const dir = tempDir();
    const grid = show.images(syntheticBatch(2));
    const chart = await show.curves(history(4));
    await show.save(grid, path.join(dir, 'grid.png'));
    assert.deepEqual(fs.readFileSync(path.join(dir, 'grid.png')), Buffer.from(grid.data[show.MIME.png] as string, 'base64'));
    await show.save(chart, path.join(dir, 'sub', 'chart.svg'));
    assert.match(fs.readFileSync(path.join(dir, 'sub', 'chart.svg'), 'utf8'), /^<svg[^>]*>.*<path/s);
    await show.save(grid, path.join(dir, 'grid.svg'));
    assert.match(fs.readFileSync(path.join(dir, 'grid.svg'), 'utf8'), /<image width="\d+" height="\d+" href="data:image\/png;base64,/);
    await show.save(show.table([{ a: 1 }]), path.join(dir, 'table.html'));
    assert.match(fs.readFileSync(path.join(dir, 'table.html'), 'utf8'), /<!DOCTYPE html>[\s\S]*<table>/);
    await assert.rejects(show.save(show.table([{ a: 1 }]), path.join(dir, 't.png')), /no image\/png .* save it as \.html/);
    await assert.rejects(show.save(grid, path.join(dir, 'grid.jpg')), /use \.png, \.svg or \.html/);
  });
});

/** A trainer stand-in: `emit` calls the listeners as a training step would. */
function fakeTrainer() {
  const listeners = new Set<(r: StepRecord) => void>();
  return {
    onStep(l: (r: StepRecord) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit: (r: StepRecord) => listeners.forEach((l) => l(r)),
    get listeners() {
      return listeners.size;
    },
  };
}

describe('show: progress', () => {
  it('outside a kernel, prints the terminal progress line and stops after totalSteps', () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const trainer = fakeTrainer();
    const bar = show.progress(trainer, { totalSteps: 3, stream });
    for (const r of history(3)) trainer.emit(r);
    assert.equal(bar.done, 3);
    assert.equal(trainer.listeners, 0, 'unsubscribed after the last step');
    bar.stop(); // idempotent
    assert.match(written.join(''), /^train 3\/3 {2}loss 0\.6667 {2}img\/s \d+ .*ETA 0s\n$/m);
    assert.throws(() => show.progress(trainer, { totalSteps: 0 }), /totalSteps must be a positive integer/);
  });
});

describe('show: serializeSends (zeromq stand-in)', () => {
  it("a send while a postponed one is in flight waits for it instead of throwing EBUSY; order is kept", async () => {
    const delivered: string[] = [];
    let writing = false;
    class Publisher {
      send(message: string): Promise<void> {
        if (writing) throw Object.assign(new Error('Socket is busy writing'), { code: 'EBUSY' });
        if (message !== 'postponed') {
          delivered.push(message);
          return Promise.resolve();
        }
        writing = true; // zeromq's 513th send: written on the next turn of the event loop
        return new Promise((resolve) => setImmediate(() => { writing = false; delivered.push(message); resolve(); }));
      }
    }
    const raw = new Publisher();
    raw.send('postponed');
    assert.throws(() => raw.send('status'), /busy writing/, 'the stand-in behaves as zeromq');
    await new Promise((resolve) => setImmediate(resolve));
    serializeSends(Publisher);
    serializeSends(Publisher); // idempotent
    const socket = new Publisher();
    delivered.splice(0);
    socket.send('a');
    socket.send('postponed');
    const last = socket.send('status');
    await last;
    assert.deepEqual(delivered, ['a', 'postponed', 'status']);
  });
});

describe('show: in a kernel (tslab stand-in)', () => {
  // tslab's jupyter module, as the kernel has it in the module cache, with a recording writer.
  const file = path.join(path.sep, 'fake', 'node_modules', 'tslab', 'dist', 'jupyter.js');
  const sent: { message: DisplayMessage; update: boolean }[] = [];
  const jupyter = { lastWriteDisplayData: null as null | ((m: DisplayMessage, u: boolean) => void) };
  before(() => {
    require.cache[file] = { id: file, filename: file, loaded: true, exports: jupyter } as unknown as NodeJS.Module;
    jupyter.lastWriteDisplayData = (message, update) => sent.push({ message, update });
  });
  after(() => {
    jupyter.lastWriteDisplayData = null; // back to "no cell running": display() is a no-op again
    delete require.cache[file];
  });
  beforeEach(() => sent.splice(0));

  it('display() sends ONE display_data with every MIME type; a bundle displays itself when a cell prints it', () => {
    const b = show.table([{ a: 1 }]);
    assert.equal(show.display(b), true);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0], { message: { data: b.data, metadata: {}, transient: {} }, update: false });
    assert.equal(inspect(b), ''); // what tslab's console.log of the cell's value prints besides
    assert.equal(sent.length, 2);
  });

  it('progress: one display updated in place, its last state the final one', () => {
    const trainer = fakeTrainer();
    const bar = show.progress(trainer, { totalSteps: 3, every: 0 });
    for (const r of history(3)) trainer.emit(r);
    assert.equal(bar.done, 3);
    const ids = new Set(sent.map((s) => s.message.transient.display_id));
    assert.equal(ids.size, 1);
    assert.deepEqual(sent.map((s) => s.update), [false, true, true, true]);
    const last = sent[sent.length - 1].message.data;
    assert.match(last[show.MIME.text] as string, /^step 3\/3 {2}· {2}loss 0\.6667/);
    assert.match(last[show.MIME.html] as string, /<img alt="loss"[^>]*src="data:image\/png;base64,/);
  });

  it('gridProgress: the whole grid in ONE display updated in place, with the finished runs listed', () => {
    const view = show.gridProgress('grid g', { every: 0 });
    view.startTask('raw-pixel baseline', 2);
    view.update('raw-pixel probe', 3, 50);
    view.startRun(0, 2, 'MAE, seed 0');
    view.update('train', 1, 3, 'loss 0.9');
    view.finishRun({ label: 'MAE, seed 0', summary: 'k-NN 70.0 %, probe 75.0 %' });
    view.startRun(1, 2, 'M-MAE, seed 0');
    view.stop();
    assert.equal(new Set(sent.map((s) => s.message.transient.display_id)).size, 1);
    assert.deepEqual(sent.map((s) => s.update), sent.map((_, i) => i > 0));
    const texts = sent.map((s) => s.message.data[show.MIME.text] as string);
    assert.match(texts[1], /^grid g: raw-pixel baseline {2}· {2}starting/);
    assert.match(texts[2], /^grid g: raw-pixel baseline {2}· {2}raw-pixel probe 3\/50/);
    assert.match(texts[3], /^grid g: run 1\/2: MAE, seed 0 {2}· {2}starting/);
    assert.match(texts[texts.length - 1], /^grid g: 1 of 2 runs done in \d+s\n {2}MAE, seed 0: k-NN 70\.0 %, probe 75\.0 %$/);
    assert.match(sent[sent.length - 1].message.data[show.MIME.html] as string, /<td[^>]*>MAE, seed 0<\/td><td[^>]*>k-NN 70\.0 %, probe 75\.0 %<\/td>/);
  });

  it("progress: a busy socket (zeromq's EBUSY) drops a frame instead of throwing; the final state is sent once the event loop runs", async () => {
    const record = jupyter.lastWriteDisplayData!;
    let busy = false;
    jupyter.lastWriteDisplayData = (message, update) => {
      if (busy) throw Object.assign(new Error('Socket is busy writing'), { code: 'EBUSY' });
      record(message, update);
    };
    try {
      const trainer = fakeTrainer();
      show.progress(trainer, { totalSteps: 2, every: 0 });
      busy = true;
      for (const r of history(2)) trainer.emit(r); // both updates and the final draw meet a busy socket
      assert.equal(sent.length, 1, 'only the first draw got through');
      busy = false;
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(sent.length, 2);
      assert.match(sent[1].message.data[show.MIME.text] as string, /^step 2\/2 /);
      busy = true;
      assert.throws(() => { jupyter.lastWriteDisplayData = () => { throw new Error('other'); }; show.display(show.table([{ a: 1 }])); }, /other/, 'other errors still surface');
    } finally {
      jupyter.lastWriteDisplayData = record;
    }
  });
});
