/**
 * `show.sweep`: a metric against a swept setting (mask ratio, decoder depth, epochs, …), one line
 * per series through the means over seeds, with every seed's value as a small point and ±1 std as
 * an error bar, and horizontal rules for baselines (e.g. raw pixels). Series differ by colour,
 * dash pattern and point shape.
 */
import { type DisplayBundle } from './bundle';
import { chartBundle, type VegaLiteSpec } from './chart';
import { summarize } from '../eval/seeds';

/** One line of a sweep: the metric at each value of the setting, one value per seed. */
export interface SweepSeries {
  name: string;
  points: { x: number; values: number[] }[];
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  /** Axis titles, e.g. `'mask ratio (%)'` and `'top-1 (%)'`. */
  x: string;
  y: string;
  title?: string;
  /** Horizontal rules, e.g. `[{label: 'raw pixels, linear probe', value: 84.1}]`. */
  baselines?: { label: string; value: number }[];
  /** `'log'` for settings that double (epochs 1, 2, 4, 8). Default `'linear'`. */
  xScale?: 'linear' | 'log';
  /** Chart size in pixels. Default 420 × 260. */
  width?: number;
  height?: number;
}

const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down'];
const DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3]];

/**
 * The sweep chart.
 * @example await show.sweep([{name: 'linear probe', points: [{x: 50, values: [70.1, 70.9, 69.8]}, …]}], {x: 'mask ratio (%)', y: 'top-1 (%)'})
 */
export async function sweep(series: SweepSeries[], opts: SweepOptions): Promise<DisplayBundle> {
  if (series.length === 0 || series.some((s) => s.points.length === 0)) throw new Error('show.sweep: give at least one series, each with at least one point');
  const names = series.map((s) => s.name);
  const rows = series.flatMap((s) => s.points.map((p) => {
    const { mean, std } = summarize(p.values);
    return { series: s.name, x: p.x, mean, low: mean - (std || 0), high: mean + (std || 0), seeds: p.values.length };
  }));
  const seeds = series.flatMap((s) => s.points.flatMap((p) => p.values.map((v) => ({ series: s.name, x: p.x, value: v }))));
  const baselines = opts.baselines ?? [];
  const allY = [...seeds.map((r) => r.value), ...rows.flatMap((r) => [r.low, r.high]), ...baselines.map((b) => b.value)].filter(Number.isFinite);
  const pad = Math.max(0.5, 0.08 * (Math.max(...allY) - Math.min(...allY)));
  const yDomain = [Math.floor(Math.min(...allY) - pad), Math.ceil(Math.max(...allY) + pad)];
  const xValues = [...new Set(rows.map((r) => r.x))].sort((a, b) => a - b);
  const x = { field: 'x', type: 'quantitative', title: opts.x, scale: { type: opts.xScale ?? 'linear', nice: false, domain: opts.xScale === 'log' ? [xValues[0] / 1.3, xValues[xValues.length - 1] * 1.3] : paddedDomain(xValues) }, axis: { values: xValues, grid: true, format: '~g' } } as const; // '~g': 0.5 reads 0.5, not 1
  const y = { type: 'quantitative', title: opts.y, scale: { domain: yDomain, zero: false } } as const;
  const legend = { scale: { domain: names } };
  const spec = {
    title: opts.title,
    width: opts.width ?? 420,
    height: opts.height ?? 260,
    layer: [
      ...(baselines.length ? [{
        data: { values: labelPlaces(baselines, ((yDomain[1] - yDomain[0]) * 16) / (opts.height ?? 260)) }, // 16 px: a label's height in y units
        layer: [
          { mark: { type: 'rule', color: '#888', strokeDash: [3, 3] }, encoding: { y: { field: 'value', ...y } } },
          // A label goes above its rule, or below it when the rule above is too close (see labelPlaces).
          { transform: [{ filter: '!datum.below' }], mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -2, color: '#555', fontSize: 11 }, encoding: { y: { field: 'value', ...y }, x: { value: 0 }, text: { field: 'label' } } },
          { transform: [{ filter: 'datum.below' }], mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 2, color: '#555', fontSize: 11 }, encoding: { y: { field: 'value', ...y }, x: { value: 0 }, text: { field: 'label' } } },
        ],
      }] : []),
      { data: { values: rows }, mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'low', ...y }, y2: { field: 'high' }, color: { field: 'series', type: 'nominal', title: null, ...legend } } },
      {
        data: { values: rows },
        mark: { type: 'line', point: { filled: true, size: 60 } },
        encoding: {
          x, y: { field: 'mean', ...y },
          color: { field: 'series', type: 'nominal', title: null, ...legend },
          strokeDash: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: DASHES.slice(0, Math.max(1, names.length)) } },
          shape: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: SHAPES.slice(0, Math.max(1, names.length)) } },
          tooltip: [{ field: 'series' }, { field: 'x' }, { field: 'mean', format: '.2f' }, { field: 'seeds' }],
        },
      },
      { data: { values: seeds }, mark: { type: 'point', size: 14, opacity: 0.5 }, encoding: { x, y: { field: 'value', ...y }, color: { field: 'series', type: 'nominal', title: null, ...legend } } },
    ],
    config: { legend: { orient: 'bottom', symbolStrokeWidth: 2 } },
  } as unknown as VegaLiteSpec;
  const text = [
    `${opts.title ? `${opts.title}: ` : ''}${opts.y} against ${opts.x} (mean ± std over seeds)`,
    ...series.map((s) => `  ${s.name}: ${rows.filter((r) => r.series === s.name).map((r) => `${r.x} → ${r.mean.toFixed(2)}`).join(', ')}`),
    ...baselines.map((b) => `  ${b.label}: ${b.value.toFixed(2)}`),
  ].join('\n');
  return chartBundle(spec, text);
}

/** The x values' range with a margin of 6 % on each side (points do not sit on the frame). */
function paddedDomain(values: number[]): [number, number] {
  const [lo, hi] = [values[0], values[values.length - 1]];
  const margin = Math.max(1e-9, 0.06 * (hi - lo || Math.abs(hi) || 1));
  return [lo - margin, hi + margin];
}

/**
 * From the top down, each baseline's label goes above its rule, unless the rule above it is
 * closer than a label's height (`gap`, in y units) and has its label above: then below, so that
 * the two labels sit on the outer sides of the pair.
 */
function labelPlaces(baselines: { label: string; value: number }[], gap: number): { label: string; value: number; below: boolean }[] {
  const sorted = [...baselines].sort((a, b) => b.value - a.value);
  const placed: { label: string; value: number; below: boolean }[] = [];
  for (const [i, b] of sorted.entries()) {
    const above = placed[i - 1];
    placed.push({ ...b, below: above !== undefined && !above.below && above.value - b.value < gap });
  }
  return placed;
}
