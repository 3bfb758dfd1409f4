/** `show.images`: a grid of images, e.g. a batch, with optional captions. */
import type { DisplayBundle } from './bundle';
import { defaultScale, gridBundle } from './grid';
import { type ImageArray, toRasters } from './raster';

/** Options of {@link images}. */
export interface ImagesOptions {
  /** Images per row. Default min(N, 8). */
  cols?: number;
  /** One caption per image, e.g. class names: `Array.from(batch.labels, (l) => data.classNames[l])`. */
  labels?: ArrayLike<string | number>;
  /** One label per row, drawn left of it, e.g. what each row shows. */
  rowLabels?: string[];
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
}

/**
 * An image grid (PNG).
 * @param batch a Batch (uint8 N×H×W×C), or `{images, shape}` with uint8 (0..255) or float (0..1) values; C = 1 or 3
 * @example show.images(data.test.take(16), {cols: 8, labels: Array.from(batch.labels, (l) => data.classNames[l])})
 * @example show.images(twoBatchesOf8, {cols: 8, rowLabels: ['original', 'augmented']})
 */
export function images(batch: ImageArray, opts: ImagesOptions = {}): DisplayBundle {
  const rasters = toRasters(batch);
  const [n, h, w, c] = batch.shape;
  const cols = opts.cols ?? Math.min(n, 8);
  if (!(Number.isInteger(cols) && cols > 0)) throw new Error(`cols must be a positive integer, got ${cols}`);
  if (opts.labels && opts.labels.length !== n) throw new Error(`${opts.labels.length} labels for ${n} images`);
  const rows = Math.ceil(n / cols);
  if (opts.rowLabels && opts.rowLabels.length !== rows) throw new Error(`${opts.rowLabels.length} row labels for ${rows} rows of ${cols} images`);
  const cells = <T>(f: (i: number) => T) => Array.from({ length: rows }, (_, r) =>
    Array.from({ length: Math.min(cols, n - r * cols) }, (_, col) => f(r * cols + col)));
  const labels = opts.labels;
  return gridBundle(
    { tiles: cells((i) => rasters[i]), captions: labels ? cells((i) => String(labels[i])) : undefined, rowLabels: opts.rowLabels, scale: opts.scale ?? defaultScale(h) },
    `${n} images ${h}×${w}×${c} in ${rows} row${rows === 1 ? '' : 's'} of ${cols}`,
  );
}
