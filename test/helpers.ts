/** Shared test helpers: backend switching, small models, closeness checks. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { useBestBackend } from '../src/backend';
import type { MaeConfig } from '../src/config';

/** Switches to a backend (as the library does, without tfjs's Node.js banner). */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await useBestBackend(name);
}

/** A model small enough for the pure-JS backend: 16×16 RGB, patch 4 (16 tokens), width 16. */
export const testConfig: Partial<MaeConfig> = {
  imageSize: 16, channels: 3, patchSize: 4, encoderWidth: 16, encoderDepth: 2, encoderHeads: 2,
  decoderWidth: 12, decoderDepth: 1, decoderHeads: 2, mlpRatio: 2,
};

/** Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the first bad index. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      assert.fail(`${what}[${i}] = ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
    }
  }
}

/** Largest |a − b| / (max |b| + tiny). */
export function maxRelativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** The golden fixtures of ../shared (computed with PyTorch in float64). */
export function goldenCases(kind: string): Record<string, unknown>[] {
  const file = path.join(__dirname, '..', '..', 'shared', 'fixtures', 'golden-losses.json');
  const all = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: Record<string, unknown>[] };
  return all.cases.filter((c) => c.kind === kind);
}

/** Flattens nested number arrays. */
export function flat(x: unknown): number[] {
  return (x as unknown[]).flat(Infinity as 1) as number[];
}

const tempDirs: string[] = [];
process.on('exit', () => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A temp folder removed after the process exits. */
export function tempDir(prefix = 'magma-lab-test-'): string {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * Central differences (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps for the entries `indices` of x
 * (default: all), the reference that custom and analytic gradients are checked against.
 */
export function centralDifferences(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, eps: number, indices?: number[]): number[] {
  const base = x.dataSync();
  const at = (i: number, step: number) => tf.tidy(() => {
    const shifted = base.slice();
    shifted[i] += step;
    return f(tf.tensor(shifted, x.shape)).dataSync()[0];
  });
  return (indices ?? Array.from(base.keys())).map((i) => (at(i, eps) - at(i, -eps)) / (2 * eps));
}
