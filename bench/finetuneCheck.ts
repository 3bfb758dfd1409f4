/**
 * Issue 12's science check: on MNIST, does fine-tuning the last block of a briefly trained MAE
 * beat its linear probe? Pre-trains tiny28 (2 epochs on 10 000 images), then the probe and
 * several fine-tuning settings on the same 10 000 / 2 000 images.
 */
import * as ml from '../src/index';
// Usage: npx tsx bench/finetuneCheck.ts '[["1 block", {"blocks": 1}], ["1 block, blr 4e-2, no augmentation", {"blocks": 1, "baseLr": 4e-2, "augment": false}]]'
(async () => {
  console.log(ml.describeBackend(await ml.useBestBackend()));
  const data = await ml.data.load('mnist', { trainLimit: 10000, testLimit: 2000 });
  const model = ml.createMae(ml.presets.tiny28, { seed: 0 });
  const perEpoch = data.train.numBatches(128);
  const run = ml.createTrainer(model, { seed: 0, totalSteps: 2 * perEpoch, warmupSteps: Math.round(0.1 * perEpoch), baseLr: 1.5e-3, stepsPerEpoch: perEpoch, probeEvery: 0 });
  const t0 = Date.now();
  await run.fit(data.train, { epochs: 2, batchSize: 128, transform: ml.data.compose(ml.data.randomResizedCrop(), ml.data.horizontalFlip()) });
  console.log(`pre-trained ${run.stepCount} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s, last loss ${run.history[run.history.length - 1].loss.toFixed(4)}`);
  const report = await ml.eval.evaluate(model, data, { skipPixelBaseline: true });
  console.log(`linear probe (evaluate): ${(100 * report.linearProbe.accuracy).toFixed(2)} %, k-NN cosine ${(100 * report.knn.cosine!.accuracy).toFixed(2)} %`);
  const settings: [string, ml.eval.FinetuneOptions][] = JSON.parse(process.argv[2] ?? '[]');
  for (const [name, opts] of settings) {
    const t = Date.now();
    const r = await ml.eval.finetune(model, data, opts);
    console.log(`${name}: ${(100 * r.accuracy).toFixed(2)} % (${((Date.now() - t) / 1000).toFixed(0)} s; last train loss ${r.history[r.history.length - 1].loss.toFixed(3)})`);
    r.dispose();
  }
})();
