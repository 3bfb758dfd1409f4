/**
 * Statistics over seeds: the mean ± sample standard deviation of a metric over runs, and the paired
 * difference of two methods run with the same seeds (same initial weights, data and masks), with a
 * paired t-test that says whether the difference can be told from seed-to-seed noise.
 */

/** Mean and sample standard deviation (n − 1) of a metric over seeds. */
export interface SeedSummary {
  /** The values, one per seed. */
  values: number[];
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); NaN for a single seed. */
  std: number;
}

/** The difference after − before of runs that share a seed, and what it shows. */
export interface PairedDifference extends SeedSummary {
  /** Every difference has the same (non-zero) sign. */
  sameSign: boolean;
  /** Paired t statistic mean / (std / √n); NaN for a single seed. */
  t: number;
  /** Two-sided p-value of the paired t-test with n − 1 degrees of freedom; NaN for a single seed. */
  p: number;
  /** 95 % confidence interval of the mean difference, mean ± t₀.₉₇₅(n − 1) · std / √n; NaN bounds for a single seed. */
  interval95: [number, number];
  /** One line: the difference, its sign pattern over seeds, t and p, and whether it is an effect at the 5 % level. */
  verdict: string;
}

/** Mean and sample standard deviation of `values` (at least one). */
export function summarize(values: number[]): SeedSummary {
  if (values.length === 0) throw new Error('summarize: no values (one per seed expected)');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (values.length - 1)) : NaN;
  return { values, mean, std };
}

/** A difference with its sign: `+1.20`, `-0.40`. */
export function signed(x: number, digits = 2): string {
  return (x >= 0 ? '+' : '') + x.toFixed(digits);
}

/**
 * "mean ± std" with `digits` decimals, just the mean for one seed.
 * @param withSign write a + before a positive mean (for differences)
 */
export function formatMeanStd(s: SeedSummary, digits = 2, withSign = false): string {
  const mean = withSign ? signed(s.mean, digits) : s.mean.toFixed(digits);
  return s.values.length > 1 ? `${mean} ± ${s.std.toFixed(digits)}` : mean;
}

/**
 * The paired difference after[i] − before[i] over seeds, with a two-sided paired t-test.
 * @param before the metric of the baseline, one value per seed
 * @param after the metric of the changed method, same seeds in the same order
 * @param unit the unit named in the verdict, e.g. 'points'
 */
export function pairedDifference(before: number[], after: number[], unit = ''): PairedDifference {
  if (before.length !== after.length) throw new Error(`pairedDifference: ${before.length} baseline values but ${after.length} after; pass one value per seed, same seeds in the same order`);
  const s = summarize(after.map((a, i) => a - before[i]));
  const n = s.values.length;
  const sameSign = s.values.every((d) => d > 0) || s.values.every((d) => d < 0);
  const t = n > 1 ? s.mean / (s.std / Math.sqrt(n)) : NaN;
  const p = n > 1 ? studentTwoSidedP(t, n - 1) : NaN;
  const halfWidth = n > 1 ? studentCritical(0.05, n - 1) * s.std / Math.sqrt(n) : NaN;
  const interval95: [number, number] = [s.mean - halfWidth, s.mean + halfWidth];
  const ci = n > 1 ? `, 95 % interval [${interval95.map((x) => signed(x)).join(', ')}]` : '';
  const head = `${formatMeanStd(s, 2, true)}${unit ? ` ${unit}` : ''} over ${n} seed${n > 1 ? 's' : ''}${ci}`;
  let verdict: string;
  if (n < 2) verdict = `${head}; one seed, no spread: cannot be told from noise`;
  else {
    const signs = sameSign ? `same sign in all ${n} seeds` : 'the sign changes across seeds';
    const test = `paired t = ${t.toFixed(2)} (${n - 1} d.f.), p = ${p.toPrecision(2)}`;
    verdict = `${head}; ${signs}; ${test}: ${p < 0.05 ? 'an effect at the 5 % level' : 'not significant at the 5 % level'}`;
  }
  return { ...s, sameSign, t, p, interval95, verdict };
}

/** Two-sided p-value P(|T| ≥ |t|) of Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
export function studentTwoSidedP(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`studentTwoSidedP: degrees of freedom must be positive, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t with P(|T| ≥ t) = `p` for Student's t with `df` degrees of freedom (bisection on {@link studentTwoSidedP}). */
export function studentCritical(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`studentCritical: p must be in (0, 1), got ${p}`);
  let lo = 0;
  let hi = 1;
  while (studentTwoSidedP(hi, df) > p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTwoSidedP(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  x -= 1;
  let a = c[0];
  const g = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(g) - g + Math.log(a);
}

/** Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz), on the side where it converges fast. */
function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedBeta(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) + logGamma(a + b) - logGamma(a) - logGamma(b)) / a;
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 400; i++) {
    const m = Math.floor(i / 2);
    // d_0 = 1; d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)); d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
    const term = i === 0 ? 1
      : i % 2 === 0 ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
      : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + term * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + term / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    f *= c * d;
    if (Math.abs(1 - c * d) < 1e-15) return front * (f - 1);
  }
  throw new Error(`regularizedBeta(${x}, ${a}, ${b}) did not converge`);
}
