/**
 * A generated dataset for tests and demos. Class k of K is a striped Gaussian blob placed at
 * angle 2πk/K on a circle around the center, with stripes at angle πk/K (and, with several
 * channels, its own tint), plus seeded jitter of place, size, phase and brightness, and pixel
 * noise. Same options → identical bytes; raw-pixel k-NN separates the classes well.
 */
import { check } from '../config';
import { Rng } from '../random';
import type { RawSplit, RawSplits } from './load';

/** Options of the synthetic dataset. */
export interface SyntheticOptions {
  /** Seed of the jitter and noise. Default 0. */
  seed?: number;
  /** Image side in pixels. Default 28. */
  size?: number;
  /** Channels per pixel. Default 1. */
  channels?: number;
  /** Train images. Default 512. */
  trainSize?: number;
  /** Test images. Default 128. */
  testSize?: number;
  /** Number of classes; labels cycle 0, 1, …, classes-1, so every class has the same count (±1). Default 4. */
  classes?: number;
}

function checkInt(name: string, value: number, min: number): void {
  check(Number.isInteger(value) && value >= min, `synthetic: ${name} must be an integer ≥ ${min}, got ${value}`);
}

/** Draws one image of class `label` into `out` (size×size×channels, HWC). */
function drawImage(out: Uint8Array, label: number, classes: number, size: number, channels: number, rng: Rng): void {
  const place = (2 * Math.PI * label) / classes;
  const cx = size / 2 + 0.25 * size * Math.cos(place) + rng.normal(0, size / 10);
  const cy = size / 2 + 0.25 * size * Math.sin(place) + rng.normal(0, size / 10);
  const sigma = (size / 7) * rng.range(0.85, 1.15);
  const theta = (Math.PI * label) / classes + rng.normal(0, 0.05);
  const freq = (2 * Math.PI) / (size / 5); // stripe period: a fifth of the image
  const phase = rng.range(0, 2 * Math.PI);
  const brightness = rng.range(0.75, 1);
  const tint = Array.from({ length: channels }, (_, ch) => (channels === 1 ? 1 : 0.6 + 0.4 * Math.cos(place + (2 * Math.PI * ch) / channels)));
  let i = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const blob = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma));
      const stripes = 0.6 + 0.4 * Math.cos(freq * (x * Math.cos(theta) + y * Math.sin(theta)) + phase);
      for (let ch = 0; ch < channels; ch++) {
        const v = 30 + 200 * brightness * blob * stripes * tint[ch] + rng.normal(0, 20);
        out[i++] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
}

/** Generates the synthetic train and test splits (independent streams of one seed). */
export function synthetic(opts: SyntheticOptions = {}): RawSplits {
  const { seed = 0, size = 28, channels = 1, trainSize = 512, testSize = 128, classes = 4 } = opts;
  check(Number.isInteger(seed), `synthetic: seed must be an integer, got ${seed}`);
  checkInt('size', size, 8);
  checkInt('channels', channels, 1);
  checkInt('trainSize', trainSize, 1);
  checkInt('testSize', testSize, 1);
  checkInt('classes', classes, 2);
  const per = size * size * channels;
  const split = (n: number, stream: number): RawSplit => {
    const rng = new Rng(seed, stream);
    const images = new Uint8Array(n * per);
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    for (let i = 0; i < n; i++) drawImage(images.subarray(i * per, (i + 1) * per), labels[i], classes, size, channels, rng);
    return { images, labels };
  };
  return {
    shape: [size, size, channels],
    classNames: Array.from({ length: classes }, (_, k) => `class ${k}`),
    train: split(trainSize, 0),
    test: split(testSize, 1),
    source: `synthetic (seed ${seed}, ${size}×${size}×${channels}, ${classes} classes)`,
  };
}
