/**
 * One timed training step of a model and method, for the dry run, in a child process. A step
 * whose tensors outgrow the wasm heap aborts the whole wasm module, and the process with it, so
 * the dry run cannot try a step that might not fit in its own process: a child that dies reports
 * the abort instead. Run as a script, this module is that child: it reads `{config, method}` as
 * JSON from its argument and prints one JSON line of {@link StepMeasurement}.
 */
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { backendReport, useBestBackend } from '../backend';
import { check, type MaeConfig } from '../config';
import type { Batch } from '../data/dataset';
import { createMae } from '../nn/mae';
import { Rng } from '../random';
import { isTwoView, type MethodName } from '../train/methods';
import { createTrainer } from '../train/trainer';

/** What one measured step gives. */
export interface StepMeasurement {
  /** Images in the step: the smallest batch the method takes (2, or 3 with batch-wide terms). */
  batch: number;
  loss: number;
  seconds: number;
  /** Tensor bytes held between steps (weights, AdamW moments, the method's own parameters). */
  fixed: number;
  /** Tensor bytes at the step's peak. */
  peak: number;
}

/** `n` random uint8 images as a Dataset's batch holds them: the two-view methods make their views from such batches. */
function randomBatch(config: MaeConfig, n: number): Batch {
  const rng = new Rng(0);
  const size = n * config.imageSize * config.imageSize * config.channels;
  return {
    images: Uint8Array.from({ length: size }, () => rng.int(256)), labels: new Int32Array(n), indices: Int32Array.from({ length: n }, (_, i) => i),
    shape: [n, config.imageSize, config.imageSize, config.channels],
    stats: { mean: new Array<number>(config.channels).fill(0.5), std: new Array<number>(config.channels).fill(0.25) },
  };
}

/**
 * One step at the method's smallest batch, after a first one that creates the AdamW moments, timed
 * and profiled, in this process. The MAE methods get standardized float images, the two-view
 * methods uint8 ones (they augment them into views). Leaves no tensor behind.
 */
export async function measureStep(config: MaeConfig, method: MethodName): Promise<StepMeasurement> {
  const before = tf.memory().numTensors;
  const model = createMae(config, { seed: 0 });
  const trainer = createTrainer(model, { method, seed: 0, totalSteps: 10 });
  const batch = Math.max(2, trainer.method.minBatch);
  const images = isTwoView(method) ? randomBatch(config, batch)
    : tf.randomNormal([batch, config.imageSize, config.imageSize, config.channels], 0, 1, 'float32', 0) as tf.Tensor4D;
  const inputBytes = images instanceof tf.Tensor ? images.size * 4 : 0;
  let failed = false;
  try {
    await trainer.step(images); // creates the AdamW moments
    const fixed = tf.memory().numBytes - inputBytes;
    const start = performance.now();
    let loss = NaN;
    const info = await tf.profile(async () => { loss = (await trainer.step(images)).loss; });
    const seconds = (performance.now() - start) / 1000;
    check(Number.isFinite(loss), `the step gave a non-finite loss (${loss})`);
    return { batch, loss, seconds, fixed, peak: info.peakBytes };
  } catch (e) {
    failed = true; // a step that throws inside tf.variableGrads leaves its tape's tensors (TF.js)
    throw e;
  } finally {
    if (images instanceof tf.Tensor) images.dispose();
    trainer.dispose();
    model.dispose();
    check(failed || tf.memory().numTensors === before, `the dry-run step of ${method} left ${tf.memory().numTensors - before} tensors behind`);
  }
}

/** A step measured in a child process, or why it failed there: an error, or the wasm module's abort (`outgrew`). */
export type ChildStep = { ok: true; step: StepMeasurement } | { ok: false; outgrew: boolean; error: string };

/**
 * {@link measureStep} in a child process on this process's backend (the same backend and native
 * kernels, through MAGMA_LAB_BACKEND and MAGMA_LAB_NATIVE).
 */
export function measureStepInChild(config: MaeConfig, method: MethodName): ChildStep {
  const report = backendReport();
  const env = { ...process.env };
  if (report) {
    env.MAGMA_LAB_BACKEND = report.name;
    if (report.name === 'wasm') env.MAGMA_LAB_NATIVE = report.native ? '1' : '0';
  }
  const child = spawnSync(process.execPath, ['-r', require.resolve('tsx/cjs'), __filename, JSON.stringify({ config, method })],
    { env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status === 0 && line.startsWith('{')) return { ok: true, step: JSON.parse(line) as StepMeasurement };
  const said = child.stderr.split('\n').find((l) => /Error|Aborted|out of bounds/.test(l))?.trim();
  // Out of heap, the wasm module aborts, faults, or (the native kernels) finds an operand past the heap's end.
  if (/Aborted\(|memory access out of bounds|outside the wasm heap/.test(child.stderr)) {
    return { ok: false, outgrew: true, error: `the step ran out of the wasm heap (${said ?? 'Aborted()'})` };
  }
  return { ok: false, outgrew: false, error: child.error?.message ?? said ?? `the step's process ended with ${child.signal ?? `status ${child.status}`}` };
}

if (require.main === module) {
  (async () => {
    const { config, method } = JSON.parse(process.argv[2]) as { config: MaeConfig; method: MethodName };
    await useBestBackend();
    const step = await measureStep(config, method);
    process.stdout.write(`${JSON.stringify(step)}\n`);
  })().catch((e: Error) => {
    process.stderr.write(`Error: ${e.message}\n`);
    process.exit(1);
  });
}
