/**
 * `npm run bench`: training-step speed and memory of the tiny32 MAE (the model of
 * ../shared/research/BACKEND.md) at batch 64, and at batch 256 as 4 accumulated micro-batches of 64
 * (the wasm heap cannot hold batch 256 at once). Prints one JSON object.
 *
 * Options: --steps N (timed steps per case, default 8), --warmup N (default 2), --cases 64,256.
 */
import * as tf from '@tensorflow/tfjs';
import { useBestBackend } from '../src/backend';
import { presets } from '../src/config';
import { createMae } from '../src/nn/mae';
import { createTrainer } from '../src/train/trainer';
import { maeStepFlops } from './flops';

interface CaseResult {
  preset: string;
  batch: number;
  accumulate: number;
  msMin: number;
  msMedian: number;
  imagesPerSecond: number;
  gflopPerStep: number;
  gflopPerSecond: number;
  numTensorsFirst: number;
  numTensorsLast: number;
  wasmHeapMB: number | null;
  rssMB: number;
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function wasmHeapMB(): number | null {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm ? Math.round(backend.wasm.HEAPU8.length / 1e6) : null;
}

async function runCase(batch: number, accumulate: number, steps: number, warmup: number): Promise<CaseResult> {
  const config = presets.tiny32;
  const model = createMae(config, { seed: 0 });
  const trainer = createTrainer(model, { seed: 0, lr: 1.5e-4, accumulate });
  const images = tf.randomNormal([batch, config.imageSize, config.imageSize, config.channels], 0, 1, 'float32', 1) as tf.Tensor4D;
  const times: number[] = [];
  let numTensorsFirst = 0;
  for (let i = 0; i < warmup + steps; i++) {
    const r = await trainer.step(images);
    if (i === 0) numTensorsFirst = tf.memory().numTensors;
    if (i >= warmup) times.push(r.ms);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const flops = maeStepFlops(config, batch);
  const result: CaseResult = {
    preset: 'tiny32', batch, accumulate,
    msMin: round(sorted[0]), msMedian: round(median),
    imagesPerSecond: round((1000 * batch) / median),
    gflopPerStep: round(flops / 1e9), gflopPerSecond: round(flops / 1e9 / (median / 1000)),
    numTensorsFirst, numTensorsLast: tf.memory().numTensors,
    wasmHeapMB: wasmHeapMB(), rssMB: Math.round(process.memoryUsage().rss / 1e6),
  };
  images.dispose();
  trainer.dispose();
  model.dispose();
  return result;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

async function main(): Promise<void> {
  const backend = await useBestBackend();
  const steps = Number(option('steps', '8'));
  const warmup = Number(option('warmup', '2'));
  const cases = option('cases', '64,256').split(',').map(Number);
  const results: CaseResult[] = [];
  for (const batch of cases) {
    process.stderr.write(`bench: tiny32, batch ${batch}…\n`);
    results.push(await runCase(batch, Math.max(1, batch / 64), steps, warmup));
  }
  const out = { date: new Date().toISOString(), backend: backend.description, tfjs: tf.version.tfjs, node: process.version, steps, warmup, results };
  console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
