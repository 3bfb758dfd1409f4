/**
 * The learning-rate schedule of MAE: per-step linear warm-up, then a half-cosine decay to minLr.
 * The peak is base_lr · effective_batch / 256 (MAE's linear scaling rule) unless given directly.
 */

/** Options of {@link warmupCosineLr}. */
export interface LrScheduleOptions {
  /** Peak learning rate (after warm-up). */
  peak: number;
  /** Steps of linear warm-up from 0 to the peak. */
  warmupSteps: number;
  /** Total optimizer steps of the run; the cosine reaches minLr there. */
  totalSteps: number;
  /** Final learning rate, default 0. */
  minLr?: number;
}

/** Learning rate at optimizer step `step` (0-based): lr(0) = peak/warmup, rises linearly, then cosine. */
export function warmupCosineLr(step: number, o: LrScheduleOptions): number {
  const min = o.minLr ?? 0;
  if (step < o.warmupSteps) return (o.peak * (step + 1)) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  return min + (o.peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** MAE's linear scaling rule: base_lr · batch / 256. */
export function scaledLr(baseLr: number, batchSize: number): number {
  return (baseLr * batchSize) / 256;
}
