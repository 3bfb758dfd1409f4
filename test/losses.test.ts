import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import * as losses from '../src/losses';
import { assertClose, flat, goldenCases, useBackend } from './helpers';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`losses.mae against the golden fixtures (${backend})`, () => {
    before(() => useBackend(backend));

    for (const [i, c] of goldenCases('mae_loss').entries()) {
      it(`case ${i} (normPix ${c.norm_pix}): loss to 1e-5, gradient to 1e-4`, () => {
        const nchw = c.imgs_nchw as number[][][][];
        const [n, ch, h, w] = [nchw.length, nchw[0].length, nchw[0][0].length, nchw[0][0][0].length];
        // The fixture is NCHW (PyTorch); the model is NHWC.
        const images = tf.transpose(tf.tensor4d(flat(nchw), [n, ch, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
        const predValues = flat(c.pred);
        const l = (c.mask as number[][])[0].length;
        const pred = tf.tensor3d(predValues, [n, l, predValues.length / (n * l)]);
        const mask = tf.tensor2d(flat(c.mask), [n, l]);
        const opts = { patch: c.patch as number, normPix: c.norm_pix as boolean };
        const loss = losses.mae(images, pred, mask, opts);
        assertClose([loss.dataSync()[0]], [c.loss as number], 1e-5, 0, 'loss');
        const grad = tf.grad((p: tf.Tensor) => losses.mae(images, p as tf.Tensor3D, mask, opts))(pred);
        assertClose(grad.dataSync(), flat(c.grad_pred), 1e-4, 1e-6, 'grad_pred');
        tf.dispose([images, pred, mask, loss, grad]);
      });
    }

    it('rejects a prediction of the wrong shape with a message naming both shapes', () => {
      const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
      assert.throws(() => losses.mae(images, tf.zeros([2, 4, 47]) as tf.Tensor3D, tf.ones([2, 4]) as tf.Tensor2D, { patch: 4 }),
        /pred has shape \[2,4,47\].*\[2,4,48\]/);
      assert.throws(() => losses.mae(images, tf.zeros([2, 4, 48]) as tf.Tensor3D, tf.ones([2, 5]) as tf.Tensor2D, { patch: 4 }), /mask has shape/);
    });
  });
}
