import * as assert from 'node:assert/strict';
import { maeStepFlops } from '../bench/flops';
import { linearProducts } from '../bench/matmuls';
import { presets } from '../src/config';

describe('bench', () => {
  it('the linear products of a step are its matmul FLOPs minus attention and the patch embedding input gradient', () => {
    const c = presets.tiny32;
    const batch = 64;
    const linear = linearProducts(c, batch).reduce((s, [m, k, n]) => s + 2 * m * k * n, 0);
    const encoderTokens = 1 + 16;
    const decoderTokens = 1 + 64;
    const attention = c.encoderDepth * 4 * encoderTokens ** 2 * c.encoderWidth + c.decoderDepth * 4 * decoderTokens ** 2 * c.decoderWidth;
    const patchEmbedInputGradient = 2 * 64 * 48 * c.encoderWidth; // not needed: images take no gradient
    assert.equal(maeStepFlops(c, batch) - linear, batch * (3 * attention + patchEmbedInputGradient));
  });
});
