/**
 * `show.curves`: training curves of one or several runs, one panel per metric (loss, loss parts,
 * learning rate, λ, γ, and the dynamics on the probe batch), runs overlaid by color and dash pattern.
 */
import type { StepRecord } from '../train/trainer';
import type { DisplayBundle } from './bundle';
import { chartBundle, type VegaLiteSpec } from './chart';

/** Options of {@link curves}. */
export interface CurvesOptions {
  /**
   * Metrics to plot, in order: `loss`, a loss part (e.g. `reconstruction`, `magma`), `lr`,
   * `lambda`, `gamma` (of each training batch); and of the probe batch (see `Trainer.setProbe`):
   * `probeGamma`, `lambda2`, `spectralGap`, `laplacianEnergy`, `laplacianChange`,
   * `affinityChange`, `featureNorm` (of the first reference block; the others' get `@<block>`,
   * e.g. `lambda2@1`), `clsNorm` and `clsUniformity`. Default: every metric the histories hold but
   * `spectralGap` (equal to λ2, as λ1 = 0) and the other reference blocks', with loss parts only
   * when there are several (a single part is the loss).
   */
  keys?: string[];
  /** At most this many points per run and metric; longer series are averaged in equal bins. Default 1000. */
  maxPoints?: number;
  /** Panels per row. Default 3. */
  columns?: number;
}

/**
 * y-axis labels: vega's own (as many digits as the tick spacing needs, so a narrow range such as
 * 11.302…11.306 still reads apart), with exponents for tiny values such as learning rates.
 */
const Y_LABEL = "datum.value !== 0 && abs(datum.value) < 1e-3 ? format(datum.value, '.1e') : datum.label";

/** One point of the long-form data behind the chart. */
interface Point {
  run: string;
  step: number;
  metric: string;
  value: number;
}

/** Panel titles of the known metrics (loss parts are titled `loss: <part>`). */
const TITLES: Record<string, string> = {
  loss: 'loss (total)', lr: 'learning rate', lambda: 'λ (MAGMA weight)', gamma: 'γ, training batch',
  probeGamma: 'γ, probe batch', lambda2: 'λ₂ of the Laplacian (probe)', spectralGap: 'spectral gap λ₂ − λ₁ (probe)',
  laplacianEnergy: 'Laplacian energy Σ|λᵢ − 1| (probe)', laplacianChange: '‖L − L_prev‖F (probe)', affinityChange: '‖W − W_prev‖F (probe)',
  featureNorm: 'reference-block norm (probe)', clsNorm: 'CLS feature norm (probe)', clsUniformity: 'uniformity of CLS (probe)',
};

/** The probe's per-block metrics, by their key for the first reference block. */
const LAYER_KEYS = { probeGamma: 'gamma', lambda2: 'lambda2', spectralGap: 'spectralGap', laplacianEnergy: 'laplacianEnergy',
  laplacianChange: 'laplacianChange', affinityChange: 'affinityChange', featureNorm: 'featureNorm' } as const;

/** The metrics of one step record, by key (missing and non-finite values left out). */
function metricsOf(r: StepRecord): Record<string, number> {
  const out: Record<string, number> = { loss: r.loss, ...r.parts, lr: r.lr };
  if (r.lambda !== undefined) out.lambda = r.lambda;
  if (r.gamma !== undefined) out.gamma = r.gamma;
  if (r.probe) {
    r.probe.layers.forEach((layer, i) => {
      for (const [key, field] of Object.entries(LAYER_KEYS)) {
        const v = layer[field];
        if (v !== null) out[i === 0 ? key : `${key}@${layer.block}`] = v;
      }
    });
    out.clsNorm = r.probe.clsNorm;
    out.clsUniformity = r.probe.uniformity; // not `uniformity`: that is U-MAE's loss part on the training batch
  }
  for (const k of Object.keys(out)) if (!Number.isFinite(out[k])) delete out[k];
  return out;
}

/** The keys plotted by default: every present metric in a fixed order, loss parts only when there are several. */
function defaultKeys(records: StepRecord[], present: Set<string>): string[] {
  const parts = new Set(records.flatMap((r) => Object.keys(r.parts)));
  const order = ['loss', ...(parts.size > 1 ? parts : []), 'lr', 'lambda', 'gamma', 'probeGamma', 'lambda2', 'laplacianEnergy',
    'laplacianChange', 'affinityChange', 'featureNorm', 'clsNorm', 'clsUniformity'];
  return order.filter((k) => present.has(k));
}

/** Averages consecutive points in equal bins so that at most `max` remain. */
function downsample(points: Point[], max: number): Point[] {
  const bin = Math.ceil(points.length / max);
  if (bin <= 1) return points;
  const out: Point[] = [];
  for (let i = 0; i < points.length; i += bin) {
    const group = points.slice(i, i + bin);
    const mean = (f: (p: Point) => number) => group.reduce((s, p) => s + f(p), 0) / group.length;
    out.push({ ...group[0], step: mean((p) => p.step), value: mean((p) => p.value) });
  }
  return out;
}

/**
 * Training curves (vega-lite chart + PNG).
 * @param history a run's `trainer.history`, or several by name: `{mae: a.history, 'm-mae': b.history}`
 * @example await show.curves({mae: runA.history, 'm-mae': runB.history}, {keys: ['loss', 'lambda2']})
 */
export async function curves(history: StepRecord[] | Record<string, StepRecord[]>, opts: CurvesOptions = {}): Promise<DisplayBundle> {
  const runs = Array.isArray(history) ? { run: history } : history;
  const all = Object.values(runs).flat();
  const present = new Set(all.flatMap((r) => Object.keys(metricsOf(r))));
  const keys = opts.keys ?? defaultKeys(all, present);
  const missing = keys.filter((k) => !present.has(k));
  if (missing.length) throw new Error(`no values for ${missing.join(', ')} in the histories; available: ${[...present].join(', ') || 'none (empty histories)'}`);
  const title = (k: string) => {
    const [base, block] = k.split('@');
    return block !== undefined && base in TITLES ? `${TITLES[base]}, block ${block}` : TITLES[k] ?? `loss: ${k}`;
  };
  const values: Point[] = [];
  const lines: string[] = [];
  for (const [run, records] of Object.entries(runs)) {
    const metrics = records.map(metricsOf);
    const last: string[] = [];
    for (const key of keys) {
      const series = records.flatMap((r, i) => (key in metrics[i] ? [{ run, step: r.step, metric: title(key), value: metrics[i][key] }] : []));
      values.push(...downsample(series, opts.maxPoints ?? 1000));
      if (series.length) last.push(`${key} ${series[series.length - 1].value.toPrecision(4)}`);
    }
    lines.push(`  ${run}: ${records.length} steps; last ${last.join(', ')}`);
  }
  const runCount = Object.keys(runs).length;
  const longest = Math.max(...Object.values(runs).map((r) => r.length));
  const spec: VegaLiteSpec = {
    data: { values },
    facet: { field: 'metric', type: 'nominal', title: null, sort: keys.map(title), header: { labelFontSize: 12 } },
    columns: opts.columns ?? 3,
    spec: {
      width: 220,
      height: 130,
      mark: { type: 'line', point: longest <= 60, strokeWidth: 1.5 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: { labelExpr: Y_LABEL } },
        // Legend and colors in the order the runs were given, not alphabetical (an explicit domain, the
        // same for both channels, so that vega-lite draws one legend for color and dash).
        color: { field: 'run', type: 'nominal', title: 'run', scale: { domain: Object.keys(runs) }, legend: runCount > 1 ? {} : null },
        // A dash pattern per run too: runs with equal values (λ of two MAGMA runs, the first steps of
        // runs from one seed) lie on one line, and the dashes keep each of them visible.
        ...(runCount > 1 ? { strokeDash: { field: 'run', type: 'nominal', title: 'run', scale: { domain: Object.keys(runs) } } } : {}),
      },
    },
    // Own y scale per metric; an x axis under every panel (shared axes sit in a footer row, which
    // draws an orphan axis below the empty slot of an incomplete last row).
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
    config: { axisY: { minExtent: 44, maxExtent: 44 } }, // equal y-axis widths keep the panels aligned
  };
  return chartBundle(spec, [`training curves (${keys.join(', ')}):`, ...lines].join('\n'));
}
