/**
 * The trainer's options: their types, defaults and validation. Resolved options are plain data,
 * saved in checkpoints and run folders.
 */
import { check } from '../config';
import { isContrastive, type MagmaSettings, type MethodName, type MethodSettings, methodNames } from './methods';
import { formatSchedule, type LambdaSchedule, parseSchedule, scheduleWeights, schedules } from './schedules';

/** Options of {@link createTrainer}. All have defaults except where noted. */
export interface TrainerOptions {
  /** Which losses to combine. Default `mae`. */
  method?: MethodName;
  /** Seed of the step's random choices (masks). Default 0. */
  seed?: number;
  /** Optimizer steps in the whole run: the cosine reaches `minLr` there. Default: no decay. */
  totalSteps?: number;
  /** Steps of linear learning-rate warm-up. Default 0. */
  warmupSteps?: number;
  /** Base learning rate, scaled by effective batch / 256 (MAE's rule). Default 1.5e-4. */
  baseLr?: number;
  /** Peak learning rate as is (overrides `baseLr` and its scaling). */
  lr?: number;
  /** Final learning rate of the cosine. Default 0. */
  minLr?: number;
  /** AdamW decoupled weight decay. Default 0.05. */
  weightDecay?: number;
  /** AdamW betas. Default [0.9, 0.95]. */
  betas?: [number, number];
  /**
   * Micro-batches per optimizer step (gradient accumulation); the batch must divide evenly.
   * Batch-wide terms (MAGMA, uniformity, NT-Xent, VICReg) stay exact: they are computed on the
   * whole batch's representations (two-pass scheme). Default 1.
   */
  accumulate?: number;
  /** MAGMA settings (used by m-mae, mu-mae, m-simclr, m-vicreg; the reference blocks are also the probe's, for every method). */
  magma?: MagmaOptions;
  /** Weight of the uniformity term of u-mae and mu-mae. Default 0.01. */
  uniformityWeight?: number;
  /** NT-Xent temperature of simclr / m-simclr. Default 0.2. */
  temperature?: number;
  /** Projector of the two-view methods. Default hidden 2048, output 256 (SimCLR) or 2048 (VICReg), as solo-learn. */
  projector?: { hidden?: number; output?: number };
  /** VICReg weights. Default sim 25, variance 25, covariance 1. */
  vicreg?: { sim?: number; variance?: number; covariance?: number };
  /** Optimizer steps per epoch, to turn steps into epochs for the λ schedule (or pass `{epoch}` to step). */
  stepsPerEpoch?: number;
  /**
   * Measure the training dynamics on the fixed probe batch (see {@link Trainer.setProbe}) at
   * step 1 and every N steps: every reference block's graph (γ, λ2, spectral gap, Laplacian
   * energy, ‖ΔL‖_F, ‖ΔW‖_F), feature norms and uniformity. 0 turns it off. Default 25.
   */
  probeEvery?: number;
  /** Held-out images in the probe batch (at most). Default 128. */
  probeSize?: number;
}

/** MAGMA options of the trainer. */
export interface MagmaOptions {
  /** Reference blocks, 0-based; negative numbers count from the end. Default [-2] (second-to-last). */
  reference?: number[];
  /** Target block. Default -1 (last). */
  target?: number;
  /** λ per epoch: a schedule, or its string form such as `warmup:0,10,1,100`. Default constant 1. */
  schedule?: LambdaSchedule | string;
  /**
   * Stretch the schedule over the run: it was written for a run of this many epochs, and step t
   * (0-based) of this run's `totalSteps` is at its epoch ⌊t · scheduleEpochs / totalSteps⌋. So
   * `warmup:0,10,1,100` with 400 keeps the released recipe's fractions in a short run: λ = 0 for
   * the first 2.5 % of the steps, 1 for the next 25 %, 0 after. Needs `totalSteps`. Default: unset
   * (the schedule reads the run's own epochs).
   */
  scheduleEpochs?: number;
  /** Multiplies S/γ in the affinity. Default 1. */
  rbfScale?: number;
  /** Use this γ instead of the batch's standard deviation of distances. */
  fixedGamma?: number;
  /** Divide squared distances by sqrt(D). Default false. */
  scaleDistance?: boolean;
}

/** Options with every default filled in (saved in checkpoints). */
export type ResolvedTrainerOptions = Omit<Required<TrainerOptions>, 'lr' | 'totalSteps' | 'stepsPerEpoch' | keyof MethodSettings> &
  Pick<TrainerOptions, 'lr' | 'totalSteps' | 'stepsPerEpoch'> & MethodSettings;

/**
 * Fills in the defaults, resolves negative block indices against the encoder depth, and checks
 * every value; errors name the option and what would be valid.
 */
export function resolveTrainerOptions(given: TrainerOptions, depth: number): ResolvedTrainerOptions {
  // Checkpoints and run folders written before the probe batch hold `dynamicsEvery` (per-batch
  // graph metrics, which compared graphs of different images); it has no effect any more.
  const { dynamicsEvery: _retired, ...o } = given as TrainerOptions & { dynamicsEvery?: number };
  const method = o.method ?? 'mae';
  check((methodNames as readonly string[]).includes(method), `unknown method '${method}'; valid methods: ${methodNames.join(', ')}`);
  const block = (k: number) => (k < 0 ? depth + k : k);
  const m = o.magma ?? {};
  const schedule = typeof m.schedule === 'string' ? parseSchedule(m.schedule) : m.schedule ?? schedules.constant(1);
  const magma: MagmaSettings = {
    reference: (m.reference ?? [-2]).map(block), target: block(m.target ?? -1), schedule,
    rbfScale: m.rbfScale ?? 1, scaleDistance: m.scaleDistance ?? false, ...(m.fixedGamma !== undefined ? { fixedGamma: m.fixedGamma } : {}),
    ...(m.scheduleEpochs !== undefined ? { scheduleEpochs: m.scheduleEpochs } : {}),
  };
  const contrastive = isContrastive(method);
  const r: ResolvedTrainerOptions = {
    method, seed: o.seed ?? 0, totalSteps: o.totalSteps, warmupSteps: o.warmupSteps ?? 0,
    baseLr: o.baseLr ?? 1.5e-4, lr: o.lr, minLr: o.minLr ?? 0, weightDecay: o.weightDecay ?? 0.05,
    betas: o.betas ?? [0.9, 0.95], accumulate: o.accumulate ?? 1, magma,
    uniformityWeight: o.uniformityWeight ?? 0.01, temperature: o.temperature ?? 0.2,
    projector: { hidden: o.projector?.hidden ?? 2048, output: o.projector?.output ?? (contrastive ? 256 : 2048) },
    vicreg: { sim: o.vicreg?.sim ?? 25, variance: o.vicreg?.variance ?? 25, covariance: o.vicreg?.covariance ?? 1 },
    stepsPerEpoch: o.stepsPerEpoch, probeEvery: o.probeEvery ?? 25, probeSize: o.probeSize ?? 128,
  };
  const known = new Set(Object.keys(r));
  for (const key of Object.keys(o)) check(known.has(key), `unknown trainer option '${key}'; valid options: ${[...known].join(', ')}`);
  const magmaKeys = ['reference', 'target', 'schedule', 'scheduleEpochs', 'rbfScale', 'fixedGamma', 'scaleDistance'];
  for (const key of Object.keys(m)) check(magmaKeys.includes(key), `unknown MAGMA option '${key}'; valid: ${magmaKeys.join(', ')}`);
  check(magma.reference.length > 0, 'magma.reference must list at least one block');
  for (const k of [...(m.reference ?? []), m.target ?? -1]) { // as given, so the error shows what the user wrote
    check(Number.isInteger(k) && k >= -depth && k < depth, `MAGMA block ${k} does not exist: the encoder has blocks 0..${depth - 1} (or -${depth}..-1 counted from the end)`);
  }
  check(scheduleWeights(schedule).every((w) => w >= 0), `magma.schedule ${formatSchedule(schedule)} has a negative λ; λ must be ≥ 0`);
  if (magma.scheduleEpochs !== undefined) {
    check(Number.isFinite(magma.scheduleEpochs) && magma.scheduleEpochs > 0, `magma.scheduleEpochs must be a positive number of epochs, got ${magma.scheduleEpochs}`);
    check(o.totalSteps !== undefined, `magma.scheduleEpochs ${magma.scheduleEpochs} stretches the λ schedule over the run, so the trainer needs totalSteps (the run's length in steps)`);
  }
  check(!magma.reference.includes(magma.target), `MAGMA reference blocks [${magma.reference}] include the target block ${magma.target}; a block is not regularized against itself`);
  check(Number.isInteger(r.seed), `seed must be an integer, got ${r.seed}`);
  for (const key of ['accumulate', 'stepsPerEpoch', 'totalSteps'] as const) {
    check(r[key] === undefined || (Number.isInteger(r[key]) && r[key]! >= 1), `${key} must be a positive integer, got ${r[key]}`);
  }
  for (const key of ['warmupSteps', 'probeEvery'] as const) check(Number.isInteger(r[key]) && r[key] >= 0, `${key} must be a non-negative integer, got ${r[key]}`);
  check(Number.isInteger(r.probeSize) && r.probeSize >= 3, `probeSize must be an integer ≥ 3 (the probe's graphs need 3 images), got ${r.probeSize}`);
  for (const key of ['baseLr', 'minLr', 'weightDecay', 'uniformityWeight'] as const) check(Number.isFinite(r[key]) && r[key] >= 0, `${key} must be a non-negative number, got ${r[key]}`);
  for (const [key, v] of [['lr', r.lr], ['temperature', r.temperature], ['magma.rbfScale', magma.rbfScale], ['magma.fixedGamma', magma.fixedGamma]] as const) {
    check(v === undefined || (Number.isFinite(v) && v > 0), `${key} must be a positive number, got ${v}`);
  }
  check(r.betas.length === 2 && r.betas.every((b) => b >= 0 && b < 1), `betas must be two numbers in [0, 1), got [${r.betas}]`);
  check(Number.isInteger(r.projector.hidden) && r.projector.hidden > 0 && Number.isInteger(r.projector.output) && r.projector.output > 0,
    `projector sizes must be positive integers, got hidden ${r.projector.hidden}, output ${r.projector.output}`);
  return r;
}
