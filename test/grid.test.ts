import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { LATER_FIELD_DEFAULTS } from '../src/config';
import { grid, type GridResult, type GridSpec } from '../src/experiments/grid';
import type { GridProgressHandle } from '../src/show/gridProgress';
import { readMetrics } from '../src/train/runFolder';
import { tempDir, useBackend } from './helpers';

/**
 * A progress handle that records what the grid reports, and can fail on cue as an interrupt: at a
 * training step of a run, or at the n-th first update (done = 1) of an evaluation phase.
 */
function recorder(interruptAt?: { run: number; step: number } | { phase: string; time: number }) {
  const events: string[] = [];
  let run = -1;
  let phaseStarts = 0;
  const handle: GridProgressHandle = {
    startRun: (index, count, label) => { run = index; events.push(`start ${index + 1}/${count} ${label}`); },
    startTask: (label) => events.push(`task ${label}`),
    update: (phase, done) => {
      if (interruptAt && 'step' in interruptAt && phase === 'train' && run === interruptAt.run && done === interruptAt.step) throw new Error('interrupted');
      if (interruptAt && 'phase' in interruptAt && phase === interruptAt.phase && done === 1 && ++phaseStarts === interruptAt.time) throw new Error('interrupted');
    },
    finishRun: (r) => events.push(`done ${r.label}: ${r.summary}`),
    stop: () => events.push('stop'),
  };
  return { handle, events };
}

/** The numbers of a grid result, without folders and times. */
function table(result: GridResult) {
  return result.runs.map(({ arm, seed, knnCosine, knnEuclidean, linearProbe, finetune, finalLoss, steps }) => ({ arm, seed, knnCosine, knnEuclidean, linearProbe, finetune, finalLoss, steps }));
}

describe('experiment grid', function () {
  this.timeout(600_000);
  before(() => useBackend('wasm'));
  const runsDir = tempDir();
  // 2 arms × 2 seeds; 96 training images in batches of 32: 3 steps per run.
  const spec = (name: string): GridSpec => ({
    name, runsDir, seeds: [0, 1],
    data: { dataset: 'synthetic', trainLimit: 96, testLimit: 48 },
    train: { epochs: 1, batchSize: 32, probeEvery: 2, probeSize: 16, checkpointEvery: 1 },
    arms: { MAE: { method: 'mae' }, 'M-MAE': { method: 'm-mae' } },
    evaluate: { probeEpochs: 3, finetune: { last: { blocks: 1, epochs: 1, batchSize: 32 } } },
  });
  let first: GridResult;

  it('runs every arm with every seed into run folders; arms of one seed share weights, data and masks', async () => {
    const before = tf.memory().numTensors;
    const { handle, events } = recorder();
    first = await grid(spec('g'), { progress: handle });
    assert.equal(tf.memory().numTensors, before, 'tensors left behind by the grid');
    assert.deepEqual(first.runs.map((r) => `${r.arm} s${r.seed}`), ['MAE s0', 'M-MAE s0', 'MAE s1', 'M-MAE s1']);
    assert.deepEqual(events.filter((e) => e.startsWith('start')), ['start 1/4 MAE, seed 0', 'start 2/4 M-MAE, seed 0', 'start 3/4 MAE, seed 1', 'start 4/4 M-MAE, seed 1']);
    assert.equal(events[0], 'task raw-pixel baseline');
    assert.equal(events.at(-1), 'stop');
    const pixels = JSON.parse(fs.readFileSync(path.join(runsDir, 'g', 'pixels.json'), 'utf8')).pixels;
    assert.deepEqual(first.pixels, pixels);
    for (const v of Object.values(first.pixels)) assert.ok(v > 0 && v <= 100, `raw-pixel accuracy ${v}`);
    for (const r of first.runs) {
      assert.equal(r.dir, path.join(runsDir, 'g', `${r.arm}-s${r.seed}`));
      for (const file of ['config.json', 'metrics.jsonl', 'checkpoint.ckpt', 'results.json', 'finetune-last.json']) assert.ok(fs.existsSync(path.join(r.dir, file)), `${r.dir}/${file}`);
      assert.equal(r.steps, 3);
      for (const v of [r.knnCosine, r.knnEuclidean, r.linearProbe, r.finetune.last]) assert.ok(v >= 0 && v <= 100, `${r.arm} s${r.seed}: accuracy ${v}`);
      assert.ok(Number.isFinite(r.finalLoss) && r.seconds > 0);
    }
    // Within a seed both arms start from the same weights and see the same first batch and masks:
    // the same reconstruction loss at step 1 (M-MAE adds its own term to it); across seeds, not.
    const step1 = (r: { dir: string }) => readMetrics(path.join(r.dir, 'metrics.jsonl'))[0].parts.reconstruction;
    const [mae0, mmae0, mae1, mmae1] = first.runs.map(step1);
    assert.equal(mmae0, mae0);
    assert.equal(mmae1, mae1);
    assert.notEqual(mae1, mae0);
    assert.ok(readMetrics(path.join(first.runs[1].dir, 'metrics.jsonl'))[0].parts.magma! > 0, 'M-MAE has its MAGMA term');
  });

  it('the table takes the seeds in order for paired differences and mean ± std summaries', () => {
    assert.deepEqual(first.values('M-MAE', 'linearProbe'), [first.runs[1].linearProbe, first.runs[3].linearProbe]);
    assert.deepEqual(first.values('MAE', 'finetune.last'), [first.runs[0].finetune.last, first.runs[2].finetune.last]);
    const d = first.difference('MAE', 'M-MAE', 'knnCosine');
    assert.deepEqual(d.values, [first.runs[1].knnCosine - first.runs[0].knnCosine, first.runs[3].knnCosine - first.runs[2].knnCosine]);
    const rows = first.summary();
    assert.deepEqual(rows.map((r) => r.arm), ['MAE', 'M-MAE', 'raw pixels (baseline)']);
    assert.equal(rows[2]['linear probe (%)'], first.pixels.linearProbe.toFixed(2));
    assert.equal(rows[2]['fine-tune last (%)'], '–');
    assert.deepEqual(Object.keys(rows[0]), ['arm', 'seeds', 'k-NN cosine (%)', 'k-NN euclidean (%)', 'linear probe (%)', 'fine-tune last (%)', 'final loss']);
    assert.match(String(rows[0]['linear probe (%)']), /^\d+\.\d\d ± \d+\.\d\d$/);
    assert.deepEqual(first.means('linearProbe'), { MAE: (first.runs[0].linearProbe + first.runs[2].linearProbe) / 2, 'M-MAE': (first.runs[1].linearProbe + first.runs[3].linearProbe) / 2 });
    const changes = first.differences([['MAE', 'M-MAE']], ['knnCosine']);
    assert.equal(changes.length, 1);
    assert.equal(changes[0].change, 'MAE → M-MAE');
    assert.equal(changes[0]['95 % interval'], `[${d.interval95.map((x) => (x >= 0 ? '+' : '') + x.toFixed(2)).join(', ')}]`);
    assert.equal(first.differences([['MAE', 'M-MAE']]).length, 4, 'every accuracy by default');
    assert.throws(() => first.values('VICReg', 'linearProbe'), /no arm 'VICReg' in grid g; its arms: MAE, M-MAE/);
    assert.throws(() => first.values('MAE', 'finetune.all'), /has no finetune\.all; the grid's metrics: .*finetune\.last/);
  });

  it('run again, it reads the finished runs back without training', async () => {
    const { handle, events } = recorder();
    const again = await grid(spec('g'), { progress: handle });
    assert.deepEqual(table(again), table(first));
    assert.ok(again.runs.every((r) => r.seconds === 0));
    assert.ok(!events.includes('task raw-pixel baseline'), 'the baseline is read back too');
    assert.deepEqual(again.pixels, first.pixels);
    assert.ok(events.filter((e) => e.startsWith('done')).every((e) => e.endsWith('(found finished)')), events.join('\n'));
  });

  it('reads back run folders written before the later model fields existed', async () => {
    fs.cpSync(path.join(runsDir, 'g'), path.join(runsDir, 'old'), { recursive: true });
    for (const r of first.runs) {
      const file = path.join(runsDir, 'old', path.basename(r.dir), 'config.json');
      const config = JSON.parse(fs.readFileSync(file, 'utf8'));
      for (const field of Object.keys(LATER_FIELD_DEFAULTS)) delete config.model[field];
      fs.writeFileSync(file, JSON.stringify(config));
    }
    const again = await grid(spec('old'), { progress: recorder().handle });
    assert.deepEqual(table(again), table(first));
    assert.ok(again.runs.every((r) => r.seconds === 0));
  });

  it('interrupted mid-run, it resumes where it stopped and gives the same table', async () => {
    const before = tf.memory().numTensors;
    await assert.rejects(grid(spec('cut'), { progress: recorder({ run: 2, step: 2 }).handle }), /interrupted/);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind by the interrupted grid');
    assert.ok(fs.existsSync(path.join(runsDir, 'cut', 'M-MAE-s0', 'results.json')));
    assert.ok(!fs.existsSync(path.join(runsDir, 'cut', 'MAE-s1', 'results.json')));
    assert.ok(!fs.existsSync(path.join(runsDir, 'cut', 'M-MAE-s1')));
    const { handle, events } = recorder();
    const resumed = await grid(spec('cut'), { progress: handle });
    assert.deepEqual(table(resumed), table(first));
    assert.deepEqual(resumed.runs.map((r) => r.seconds === 0), [true, true, false, false]);
    // The interrupted run continued from its step-1 checkpoint: the step it lost is recorded once.
    assert.deepEqual(readMetrics(path.join(runsDir, 'cut', 'MAE-s1', 'metrics.jsonl')).map((r) => r.step), [1, 2, 3]);
    assert.ok(events.length > 0);
  });

  it('evaluates at the end of every epoch of evalEpochs too, once each; an evaluation cut short is done on resume', async () => {
    // 1 arm, 1 seed, 3 epochs of 3 steps, evaluated after epochs 1 and 2 and at the end.
    const epochs = (name: string): GridSpec => ({ ...spec(name), seeds: [0], arms: { MAE: { method: 'mae' } }, train: { ...spec(name).train, epochs: 3, evalEpochs: '1,2' }, evaluate: { probeEpochs: 3 } });
    const [whole] = (await grid(epochs('epochs'), { progress: recorder().handle })).runs;
    assert.deepEqual(whole.atEpochs.map((e) => e.epoch), [1, 2, 3]);
    assert.deepEqual(whole.atEpochs[2], { epoch: 3, knnCosine: whole.knnCosine, knnEuclidean: whole.knnEuclidean, linearProbe: whole.linearProbe });
    assert.notDeepEqual(whole.atEpochs[0], { ...whole.atEpochs[2], epoch: 1 }, 'epoch 1 evaluated another model');
    const read = (dir: string, file: string) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    assert.deepEqual(['results-epoch-1.json', 'results-epoch-2.json', 'results.json'].map((f) => read(whole.dir, f).trainedSteps), [3, 6, 9]);
    // Interrupted in the evaluation after epoch 2 (the second start of the probe), then run again.
    const cutDir = path.join(runsDir, 'epochs-cut', 'MAE-s0');
    await assert.rejects(grid(epochs('epochs-cut'), { progress: recorder({ phase: 'linear probe (epochs)', time: 2 }).handle }), /interrupted/);
    assert.ok(fs.existsSync(path.join(cutDir, 'results-epoch-1.json')) && !fs.existsSync(path.join(cutDir, 'results-epoch-2.json')));
    const [resumed] = (await grid(epochs('epochs-cut'), { progress: recorder().handle })).runs;
    assert.deepEqual(resumed.atEpochs, whole.atEpochs);
    assert.deepEqual(readMetrics(path.join(cutDir, 'metrics.jsonl')).map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await assert.rejects(grid({ ...epochs('bad-epochs'), train: { ...epochs('x').train, evalEpochs: '2,1' } }, { progress: recorder().handle }),
      /--eval-epochs '2,1' must be ascending whole epochs from 1 to below --epochs 3, comma-separated, e\.g\. 1,2,4/);
    await assert.rejects(grid({ ...epochs('bad-epochs'), train: { ...epochs('x').train, evalEpochs: '3' } }, { progress: recorder().handle }), /--eval-epochs '3' must be/);
  });

  it('a fine-tuning from scratch takes the run\'s seed; fine-tunings of pre-trained weights share one protocol', async () => {
    const scratch: GridSpec = { ...spec('scratch'), arms: { MAE: { method: 'mae' } },
      evaluate: { probeEpochs: 3, finetune: { last: { blocks: 1, epochs: 1, batchSize: 32 }, scratch: { init: 'random', epochs: 1, batchSize: 32 } } } };
    const result = await grid(scratch, { progress: recorder().handle });
    const recipe = (dir: string, name: string) => JSON.parse(fs.readFileSync(path.join(dir, `finetune-${name}.json`), 'utf8')).recipe as string;
    for (const r of result.runs) {
      assert.match(recipe(r.dir, 'scratch'), new RegExp(`seed ${r.seed}$`));
      assert.match(recipe(r.dir, 'last'), /seed 0$/);
    }
  });

  it('bad descriptions fail before anything runs, naming the field and the fix', async () => {
    const good = spec('bad');
    const cases: [Partial<GridSpec>, RegExp][] = [
      [{ seeds: [] }, /seeds must be a non-empty list of distinct integers, got \[\]/],
      [{ seeds: [0, 0] }, /seeds must be a non-empty list of distinct integers, got \[0,0\]/],
      [{ name: 'a/b' }, /grid name "a\/b" must be a folder name/],
      [{ arms: {} }, /give at least one arm/],
      [{ arms: { 'M MAE': { method: 'm-mae' }, 'M-MAE': { method: 'm-mae' } } }, /arms 'M MAE' and 'M-MAE' would share the run folder M-MAE-s<seed>; rename one/],
      [{ arms: { MAE: { method: 'mae', seed: 3 } } }, /arm 'MAE' sets 'seed', which the grid sets itself/],
      [{ arms: { MAE: { method: 'mea' } } }, /grid bad, arm 'MAE': method mea is not valid; choose one of: mae, m-mae/],
      [{ arms: { MAE: { bacthSize: 3 } as never } }, /unknown option 'bacthSize' in grid bad, arm 'MAE'; valid options: .*batchSize/],
    ];
    for (const [change, message] of cases) {
      await assert.rejects(grid({ ...good, ...change }, { progress: recorder().handle }), message, JSON.stringify(change));
    }
    assert.ok(!fs.existsSync(path.join(runsDir, 'bad')), 'a refused grid wrote nothing');
  });

  it('refuses a folder that holds a run with other settings, and leaves it as it was', async () => {
    const other = { ...spec('g'), train: { ...spec('g').train, batchSize: 16 } };
    const config = fs.readFileSync(path.join(runsDir, 'g', 'MAE-s0', 'config.json'), 'utf8');
    await assert.rejects(grid(other, { progress: recorder().handle }), /g\/MAE-s0 holds a run with other settings \(batchSize\) than this grid's cell; remove that folder to run the cell again, or give the grid another name/);
    assert.equal(fs.readFileSync(path.join(runsDir, 'g', 'MAE-s0', 'config.json'), 'utf8'), config);
    const otherModel = { ...spec('g'), train: { ...spec('g').train, decoderDepth: 3 } };
    await assert.rejects(grid(otherModel, { progress: recorder().handle }), /g\/MAE-s0 holds a run with other settings \(model\.decoderDepth\)/);
  });
});
