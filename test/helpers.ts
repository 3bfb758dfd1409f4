/** Shared test helpers: backend switching, small models, closeness checks. */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nativeWanted, useBestBackend } from '../src/backend';
import type { MaeConfig } from '../src/config';

/**
 * A compute path: `wasm` is wasm as this run's environment sets it up (with the native kernels
 * unless MAGMA_LAB_NATIVE=0); `wasm-plain` is wasm's own kernels; `wasm-native` the native ones.
 */
export type ComputePath = 'cpu' | 'wasm' | 'wasm-plain' | 'wasm-native';

/** The paths every numerical test (golden fixtures, gradients, cross-backend agreement) runs on. */
export const COMPUTE_PATHS = ['cpu', 'wasm-plain', 'wasm-native'] as const;

const nativeSettingOfThisRun = process.env.MAGMA_LAB_NATIVE;

/**
 * Switches to a compute path (as the library does, without tfjs's Node.js banner). Where the
 * native kernels are not built, or this run turned them off (MAGMA_LAB_NATIVE=0), `wasm-native`
 * skips the calling test, unless MAGMA_LAB_REQUIRE_NATIVE=1 (CI), where it fails.
 */
export async function useBackend(name: ComputePath, test?: Mocha.Context): Promise<void> {
  const offForThisRun = !nativeWanted(nativeSettingOfThisRun);
  const setting = name === 'wasm-plain' ? '0' : name === 'wasm-native' && !offForThisRun ? undefined : nativeSettingOfThisRun;
  if (setting === undefined) delete process.env.MAGMA_LAB_NATIVE;
  else process.env.MAGMA_LAB_NATIVE = setting;
  const report = await useBestBackend(name === 'cpu' ? 'cpu' : 'wasm');
  if (name === 'wasm-native' && !report.native) {
    const why = offForThisRun ? 'MAGMA_LAB_NATIVE turns them off for this run' : report.skipped.join('; ');
    if (process.env.MAGMA_LAB_REQUIRE_NATIVE === '1' && !offForThisRun) throw new Error(`native kernels required (MAGMA_LAB_REQUIRE_NATIVE=1) but unavailable: ${why}`);
    if (!test) throw new Error(`native kernels unavailable: ${why}`);
    test.skip();
  }
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

/** Runs the `magma-lab` command line in a child process, as a user would, on the wasm backend. */
export function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const bin = path.join(__dirname, '..', 'bin', 'magma-lab.js');
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MAGMA_LAB_BACKEND: 'wasm' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
