/**
 * PyTorch parity of the weights interop: bench/mae_torch.py (models_mae.py's modules and names, on
 * Debian's python3-torch) writes a random MAE as safetensors, with images, a mask and what it
 * computes; magma-lab loads the file with loadPretrained and must compute the same, on every
 * compute path: the encoder's latent, every block's output, the decoder's prediction and the loss.
 * Without PyTorch the test is skipped, unless MAGMA_LAB_REQUIRE_TORCH=1 (CI), where it fails.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TorchStep, torchImportable } from '../bench/torch';
import type { MaeConfig } from '../src/config';
import { createMae } from '../src/nn/mae';
import { fromShuffle } from '../src/nn/masking';
import { loadPretrained } from '../src/nn/pretrained';
import { Rng } from '../src/random';
import { SafetensorsFile } from '../src/safetensors';
import { COMPUTE_PATHS, maxRelativeDiff, tempDir, useBackend } from './helpers';

/** A small ViT with every part: 16×16 RGB, patch 4, 2 + 2 blocks, models_mae.py's ε in both halves. */
const config: MaeConfig = {
  imageSize: 16, channels: 3, patchSize: 4, encoderWidth: 32, encoderDepth: 2, encoderHeads: 4,
  decoderWidth: 24, decoderDepth: 2, decoderHeads: 3, mlpRatio: 4, maskRatio: 0.75, normPixLoss: true,
  maskSampling: 'random', maskTokenInEncoder: false, lossOnAllPatches: false, encoderNormEps: 1e-6, decoderNormEps: 1e-6,
};

describe('PyTorch parity (models_mae.py weights as safetensors)', function () {
  this.timeout(120000);
  const dir = tempDir();
  let expected: SafetensorsFile;

  before(async function () {
    if (!torchImportable()) {
      if (process.env.MAGMA_LAB_REQUIRE_TORCH === '1') throw new Error('PyTorch required (MAGMA_LAB_REQUIRE_TORCH=1) but /usr/bin/python3 cannot import torch: apt-get install python3-torch');
      this.skip();
    }
    const torch = new TorchStep({ model: config, threads: 1, referenceBlocks: [0], targetBlock: 1, lambda: 1 });
    try {
      await torch.writeParity(dir, 4, 0);
    } finally {
      torch.close();
    }
    expected = SafetensorsFile.open(path.join(dir, 'expected.safetensors'));
  });

  it("the other way: magma-lab's saveWeights (models_mae.py names, its default decoder ε 1e-5) in PyTorch's modules gives the same prediction and loss", async () => {
    await useBackend('wasm');
    const model = createMae({ ...config, decoderNormEps: 1e-5 }, { seed: 2 });
    const torch = new TorchStep({ model: model.config, threads: 1, referenceBlocks: [0], targetBlock: 1, lambda: 1 });
    const images = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const masking = model.randomMasking(new Rng(2), 3);
    try {
      const theirs = await torch.forward(model, images, masking);
      tf.tidy(() => {
        const out = model.forward(images, masking);
        const [pred, latent] = [maxRelativeDiff(out.pred.dataSync(), theirs.pred), maxRelativeDiff(out.encoder.latent.dataSync(), theirs.latent)];
        assert.ok(pred <= 1e-4 && latent <= 1e-4, `relative differences: prediction ${pred.toExponential(2)}, latent ${latent.toExponential(2)}`);
        assert.ok(Math.abs(out.loss.dataSync()[0] - theirs.loss) <= 1e-4 * theirs.loss);
      });
    } finally {
      torch.close();
      images.dispose();
      model.dispose();
    }
  });

  for (const computePath of COMPUTE_PATHS) {
    it(`${computePath}: latent, every block, the prediction and the loss within 1e-4 of PyTorch for the same images and mask`, async function () {
      await useBackend(computePath, this);
      const model = loadPretrained(path.join(dir, 'weights.safetensors'), { encoderHeads: 4, decoderHeads: 3, log: () => {} });
      assert.deepEqual(model.config, config, 'the shapes give the config, models_mae.py the ε of 1e-6');
      const get = (name: string) => expected.read(name);
      const images = tf.tensor4d(get('images').values, get('images').shape as [number, number, number, number]);
      // PyTorch's ids_restore, as magma-lab's masking: the shuffle is its inverse permutation.
      const { values: restore, shape: [batch, tokens] } = get('ids_restore');
      const idsShuffle = new Int32Array(batch * tokens);
      for (let b = 0; b < batch; b++) for (let l = 0; l < tokens; l++) idsShuffle[b * tokens + restore[b * tokens + l]] = l;
      const masking = fromShuffle(idsShuffle, batch, tokens, get('ids_keep').shape[1]);
      assert.deepEqual(Array.from(masking.mask), Array.from(get('mask').values), 'the same mask');
      const numTensors = tf.memory().numTensors;
      tf.tidy(() => {
        const out = model.forward(images, masking);
        const compare = (ours: tf.Tensor, name: string) => {
          const theirs = get(name);
          assert.deepEqual(ours.shape, theirs.shape, name);
          const diff = maxRelativeDiff(ours.dataSync(), theirs.values);
          assert.ok(diff <= 1e-4, `${name}: max |magma-lab − PyTorch| / max |PyTorch| = ${diff.toExponential(2)} > 1e-4`);
        };
        out.encoder.blocks.forEach((block, i) => compare(block, `blocks.${i}`));
        compare(out.encoder.latent, 'latent');
        compare(out.pred, 'pred');
        compare(tf.reshape(out.loss, [1]), 'loss');
      });
      assert.equal(tf.memory().numTensors, numTensors);
      images.dispose();
      model.dispose();
    });
  }
});
