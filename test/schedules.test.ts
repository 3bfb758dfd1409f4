import { strict as assert } from 'assert';
import { formatSchedule, lambdaAt, parseSchedule, scheduleEpochOf, scheduleTable, schedules } from '../src/train/schedules';

const table = (s: Parameters<typeof lambdaAt>[0], epochs: number) => scheduleTable(s, epochs).map((r) => r.lambda);

describe('λ schedules (epoch-granular, SPEC §2)', () => {
  it('constant', () => assert.deepEqual(table(schedules.constant(0.5), 3), [0.5, 0.5, 0.5]));

  it('warmup(base 0, 2 warm-up epochs, w 1, 3 regularized epochs)', () => {
    assert.deepEqual(table(schedules.warmup(0, 2, 1, 3), 7), [0, 0, 1, 1, 1, 0, 0]);
  });

  it('triangle(0 → 1 → 0.5 over epochs 1, 3, 5)', () => {
    assert.deepEqual(table(schedules.triangle(0, 1, 0.5, 1, 3, 5), 7), [0, 0, 0.5, 1, 0.75, 0.5, 0.5]);
  });

  it('step: 0 for the first 5 epochs, then w · scale at each listed epoch', () => {
    assert.deepEqual(table(schedules.step(1, [6, 8], 0.5), 10), [0, 0, 0, 0, 0, 1, 0.5, 0.5, 0.25, 0.25]);
  });

  it('interval: w inside [from, to), 0 elsewhere', () => {
    assert.deepEqual(table(schedules.interval([[1, 3, 2], [4, 5, 0.5]]), 6), [0, 2, 2, 0, 0.5, 0]);
  });

  it('fractional epochs count as the epoch they are in', () => assert.equal(lambdaAt(schedules.warmup(0, 1, 1, 1), 1.9), 1));

  it('stretched over a run (scheduleEpochs), the released warmup(0, 10, 1, 100) of 400 epochs keeps its fractions', () => {
    // 468 steps: λ = 1 from step ⌈10/400 · 468⌉ = 12 to step ⌈110/400 · 468⌉ − 1 = 128 (0-based), 0 elsewhere.
    const run = { scheduleEpochs: 400, totalSteps: 468 };
    const lambdas = Array.from({ length: 468 }, (_, t) => lambdaAt(schedules.warmup(0, 10, 1, 100), scheduleEpochOf(t, 0, run)));
    assert.equal(lambdas.indexOf(1), 12);
    assert.equal(lambdas.lastIndexOf(1), 128);
    assert.equal(lambdas.filter((l) => l === 1).length, 117);
    // A run exactly as long as the schedule reads its own epochs: step t of 400 × 3 steps is epoch ⌊t / 3⌋.
    assert.deepEqual([0, 2, 3, 29, 30, 1199].map((t) => scheduleEpochOf(t, -1, { scheduleEpochs: 400, totalSteps: 1200 })), [0, 0, 1, 9, 10, 399]);
    // Not stretched: the run's epoch as given.
    assert.equal(scheduleEpochOf(100, 3, { totalSteps: 1200 }), 3);
  });

  it('parses the string form and prints it back', () => {
    for (const text of ['constant:1', 'warmup:0,10,1,100', 'triangle:0,1,0,0,10,20', 'step:1,0.5,10,20', 'interval:0-10=1,20-30=0.5']) {
      assert.equal(formatSchedule(parseSchedule(text)), text);
    }
    assert.deepEqual(parseSchedule('warmup:0,1,1,99'), schedules.warmup(0, 1, 1, 99));
  });

  it('rejects strings that do not parse, naming the valid forms', () => {
    assert.throws(() => parseSchedule('warmup:0,1,1'), /warmup takes 4 numbers, got 3; valid forms: constant:W \| warmup:BASE,WARMUP_EPOCHS,W,REG_EPOCHS/);
    assert.throws(() => parseSchedule('cosine:1'), /unknown schedule 'cosine'/);
    assert.throws(() => parseSchedule('constant:x'), /must be comma-separated numbers/);
    assert.throws(() => parseSchedule('interval:5-3=1'), /interval 5-3 is empty/);
    assert.throws(() => parseSchedule('triangle:0,1,0,5,3,8'), /START_E ≤ MID_E < END_E/);
  });
});
