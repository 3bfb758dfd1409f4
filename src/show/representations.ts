/**
 * `show.spectrum` and `show.cka`: what `ml.analysis` measures of feature matrices, drawn.
 * - spectrum: the normalized singular values σᵢ/σ₁ of each named feature matrix on a log scale,
 *   one line style per series, with the effective rank in the legend (dimensional collapse shows
 *   as a curve that drops early);
 * - cka: linear CKA between every pair of named feature matrices as a heatmap on the fixed scale
 *   0–1, with the values written in the cells.
 */
import { ckaMatrix, type FeatureMatrix, singularValues } from '../eval/representations';
import type { DisplayBundle } from './bundle';
import { chartBundle, type VegaLiteSpec } from './chart';

/** The legend of the spectrum's series, below the chart, labels in full. */
const seriesLegend = { orient: 'bottom', direction: 'vertical', labelLimit: 0, symbolStrokeWidth: 2 } as const;

/** Options of {@link spectrum}. */
export interface SpectrumOptions {
  /** Plot at most this many leading singular values. Default: all. */
  top?: number;
  /** Chart title. */
  title?: string;
}

/**
 * The singular-value spectra of named feature matrices (e.g. `{mae: f1, 'm-mae': f2}`).
 * @example await show.spectrum({ mae: { values, n: 1000, dim: 128 }, 'm-mae': { values: other, n: 1000, dim: 128 } })
 */
export async function spectrum(series: Record<string, FeatureMatrix>, opts: SpectrumOptions = {}): Promise<DisplayBundle> {
  const names = Object.keys(series);
  if (names.length === 0) throw new Error('show.spectrum needs at least one named feature matrix');
  const rows: { series: string; index: number; value: number }[] = [];
  const legend: string[] = [];
  for (const name of names) {
    const s = singularValues(series[name]);
    const label = `${name} (effective rank ${s.effectiveRank.toFixed(1)} of ${s.values.length})`;
    legend.push(label);
    const count = Math.min(opts.top ?? s.values.length, s.values.length);
    // Exact zeros cannot go on a log scale: they are left out (the legend's rank still counts them).
    for (let i = 0; i < count; i++) if (s.values[i] > 0) rows.push({ series: label, index: i + 1, value: s.values[i] / s.values[0] });
  }
  const title = opts.title ?? 'singular values of the centered features';
  const points = rows.length <= 200; // beyond that, markers hide the lines
  const spec: VegaLiteSpec = {
    title: { text: title, anchor: 'start' },
    data: { values: rows },
    width: 420,
    height: 260,
    mark: { type: 'line', point: points },
    encoding: {
      x: { field: 'index', type: 'quantitative', title: 'i (singular direction)', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: 'σᵢ / σ₁', scale: { type: 'log' } },
      // Colour, dash and point shape (where points are drawn: a line has no shape) follow the series, so they stay apart in greyscale too; one legend.
      color: { field: 'series', type: 'nominal', title: null, sort: legend, legend: seriesLegend },
      strokeDash: { field: 'series', type: 'nominal', sort: legend, legend: null },
      ...(points ? { shape: { field: 'series', type: 'nominal', sort: legend, legend: null } } : {}),
    },
  };
  return chartBundle(spec, `${title}: ${legend.join('; ')}`);
}

/**
 * Linear CKA between every pair of named feature matrices of the same images (blocks of one model,
 * or one block of several models).
 */
export async function cka(series: Record<string, FeatureMatrix>, opts: { title?: string } = {}): Promise<DisplayBundle> {
  const names = Object.keys(series);
  if (names.length < 2) throw new Error('show.cka needs at least two named feature matrices to compare');
  const table = ckaMatrix(names.map((n) => series[n]));
  const cells = names.flatMap((a, i) => names.map((b, j) => ({ a, b, cka: table[i][j], text: table[i][j].toFixed(2) })));
  const title = opts.title ?? `linear CKA of ${series[names[0]].n} images`;
  const side = Math.max(160, 48 * names.length);
  const spec: VegaLiteSpec = {
    title: { text: title, anchor: 'start' },
    padding: { left: 5, top: 5, bottom: 5, right: 20 }, // room for the colour bar's labels
    data: { values: cells },
    width: side,
    height: side,
    encoding: {
      x: { field: 'b', type: 'nominal', sort: names, title: null, axis: { labelAngle: -30 } },
      y: { field: 'a', type: 'nominal', sort: names, title: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'cka', type: 'quantitative', title: 'CKA', scale: { domain: [0, 1], scheme: 'viridis' } } } },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: { text: { field: 'text' }, color: { condition: { test: 'datum.cka > 0.6', value: 'black' }, value: 'white' } },
      },
    ],
  };
  const text = names.map((a, i) => `${a}: ${names.map((b, j) => `${b} ${table[i][j].toFixed(3)}`).join(', ')}`).join('\n');
  return chartBundle(spec, `${title}\n${text}`);
}
