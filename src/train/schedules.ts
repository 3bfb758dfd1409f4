/**
 * λ schedules of the MAGMA term (SPEC §2): epoch-granular weights, as plain typed data (they go
 * into configs and checkpoints), evaluated with {@link lambdaAt}. The string form of the CLI,
 * e.g. `warmup:0,10,1,100`, is parsed by {@link parseSchedule}.
 */
import { ConfigError } from '../config';

/** λ(e) = weight. */
export interface ConstantSchedule { kind: 'constant'; weight: number }
/** base for e < warmupEpochs; weight for e < warmupEpochs + regEpochs; base afterwards. */
export interface WarmupSchedule { kind: 'warmup'; base: number; warmupEpochs: number; weight: number; regEpochs: number }
/** startWeight before startEpoch, linear to maxWeight at midEpoch, linear to endWeight at endEpoch, endWeight after. */
export interface TriangleSchedule {
  kind: 'triangle'; startWeight: number; maxWeight: number; endWeight: number; startEpoch: number; midEpoch: number; endEpoch: number;
}
/** 0 for the first 5 epochs, then weight · scale^(number of listed epochs ≤ e). */
export interface StepSchedule { kind: 'step'; weight: number; steps: number[]; scale: number }
/** weight inside each half-open interval [from, to), 0 elsewhere (the first matching interval wins). */
export interface IntervalSchedule { kind: 'interval'; intervals: [number, number, number][] }

/** Any λ schedule. */
export type LambdaSchedule = ConstantSchedule | WarmupSchedule | TriangleSchedule | StepSchedule | IntervalSchedule;

/** Epochs during which the `step` schedule is 0 (as in the official code). */
const STEP_ZERO_EPOCHS = 5;

/** Constructors of every schedule, with the paper's argument order. */
export const schedules = {
  constant: (weight: number): ConstantSchedule => ({ kind: 'constant', weight }),
  /** Released MAGMA ImageNet-100 recipe: warmup(0, 10, 1, 100). */
  warmup: (base: number, warmupEpochs: number, weight: number, regEpochs: number): WarmupSchedule =>
    ({ kind: 'warmup', base, warmupEpochs, weight, regEpochs }),
  triangle: (startWeight: number, maxWeight: number, endWeight: number, startEpoch: number, midEpoch: number, endEpoch: number): TriangleSchedule =>
    ({ kind: 'triangle', startWeight, maxWeight, endWeight, startEpoch, midEpoch, endEpoch }),
  step: (weight: number, steps: number[], scale: number): StepSchedule => ({ kind: 'step', weight, steps: [...steps].sort((a, b) => a - b), scale }),
  interval: (intervals: [number, number, number][]): IntervalSchedule => ({ kind: 'interval', intervals }),
};

/** λ at (0-based, whole) epoch `epoch`. */
export function lambdaAt(s: LambdaSchedule, epoch: number): number {
  const e = Math.floor(epoch);
  switch (s.kind) {
    case 'constant':
      return s.weight;
    case 'warmup':
      return e < s.warmupEpochs ? s.base : e < s.warmupEpochs + s.regEpochs ? s.weight : s.base;
    case 'triangle': {
      if (e < s.startEpoch) return s.startWeight;
      if (e < s.midEpoch) return s.startWeight + ((s.maxWeight - s.startWeight) * (e - s.startEpoch)) / (s.midEpoch - s.startEpoch);
      if (e < s.endEpoch) return s.maxWeight + ((s.endWeight - s.maxWeight) * (e - s.midEpoch)) / (s.endEpoch - s.midEpoch);
      return s.endWeight;
    }
    case 'step':
      return e < STEP_ZERO_EPOCHS ? 0 : s.weight * s.scale ** s.steps.filter((m) => m <= e).length;
    case 'interval':
      return s.intervals.find(([from, to]) => e >= from && e < to)?.[2] ?? 0;
  }
}

/**
 * The epoch at which step `step` (0-based) reads its schedule: the run's own epoch `runEpoch`, or,
 * for a schedule stretched over the run (`scheduleEpochs` set, a run of `totalSteps`),
 * ⌊step · scheduleEpochs / totalSteps⌋: the schedule's epochs as equal fractions of the run.
 */
export function scheduleEpochOf(step: number, runEpoch: number, run: { scheduleEpochs?: number; totalSteps?: number }): number {
  if (run.scheduleEpochs === undefined || run.totalSteps === undefined) return runEpoch;
  return Math.floor((step * run.scheduleEpochs) / run.totalSteps);
}

/** One row per epoch: `[{epoch: 0, lambda: 0}, …]`, for a table or a chart. */
export function scheduleTable(s: LambdaSchedule, epochs: number): { epoch: number; lambda: number }[] {
  return Array.from({ length: epochs }, (_, epoch) => ({ epoch, lambda: lambdaAt(s, epoch) }));
}

/** The schedule in its string form, e.g. `warmup:0,10,1,100`. */
export function formatSchedule(s: LambdaSchedule): string {
  switch (s.kind) {
    case 'constant': return `constant:${s.weight}`;
    case 'warmup': return `warmup:${s.base},${s.warmupEpochs},${s.weight},${s.regEpochs}`;
    case 'triangle': return `triangle:${[s.startWeight, s.maxWeight, s.endWeight, s.startEpoch, s.midEpoch, s.endEpoch].join(',')}`;
    case 'step': return `step:${s.weight},${s.scale},${s.steps.join(',')}`;
    case 'interval': return `interval:${s.intervals.map(([a, b, w]) => `${a}-${b}=${w}`).join(',')}`;
  }
}

/** The λ values a schedule names (its weights, and the step factor), all of which must be ≥ 0. */
export function scheduleWeights(s: LambdaSchedule): number[] {
  switch (s.kind) {
    case 'constant': return [s.weight];
    case 'warmup': return [s.base, s.weight];
    case 'triangle': return [s.startWeight, s.maxWeight, s.endWeight];
    case 'step': return [s.weight, s.scale];
    case 'interval': return s.intervals.map(([, , w]) => w);
  }
}

const syntax = [
  'constant:W', 'warmup:BASE,WARMUP_EPOCHS,W,REG_EPOCHS', 'triangle:START_W,MAX_W,END_W,START_E,MID_E,END_E',
  'step:W,SCALE,E1,E2,…', 'interval:FROM-TO=W,…',
];

/** Parses the string form (see {@link formatSchedule}); the error lists the valid forms. */
export function parseSchedule(text: string): LambdaSchedule {
  const fail = (why: string): never => {
    throw new ConfigError(`λ schedule '${text}': ${why}; valid forms: ${syntax.join(' | ')} (e.g. warmup:0,10,1,100)`);
  };
  const schedule = parseForm(text, fail);
  if (scheduleWeights(schedule).some((w) => w < 0)) fail('λ must not be negative (a negative weight would reward distorting the manifold)');
  return schedule;
}

function parseForm(text: string, fail: (why: string) => never): LambdaSchedule {
  const [kind, rest = ''] = text.split(/:(.*)/s, 2);
  if (kind === 'interval') {
    const intervals = rest.split(',').map((part) => {
      const m = /^\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*=\s*(-?[\d.e+-]+)\s*$/.exec(part);
      if (!m) return fail(`'${part}' is not FROM-TO=W`);
      const [from, to, w] = m.slice(1).map(Number);
      if (!(to > from)) fail(`interval ${from}-${to} is empty`);
      return [from, to, w] as [number, number, number];
    });
    return schedules.interval(intervals);
  }
  const args = rest === '' ? [] : rest.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (args.some((v) => !Number.isFinite(v))) fail(`'${rest}' must be comma-separated numbers`);
  const need = (n: number) => args.length === n || fail(`${kind} takes ${n} numbers, got ${args.length}`);
  switch (kind) {
    case 'constant': need(1); return schedules.constant(args[0]);
    case 'warmup': need(4); return schedules.warmup(args[0], args[1], args[2], args[3]);
    case 'triangle': {
      need(6);
      if (!(args[3] <= args[4] && args[4] < args[5])) fail('needs START_E ≤ MID_E < END_E');
      return schedules.triangle(args[0], args[1], args[2], args[3], args[4], args[5]);
    }
    case 'step':
      if (args.length < 2) fail('step takes W, SCALE and then the epochs where λ is multiplied by SCALE');
      return schedules.step(args[0], args.slice(2), args[1]);
    default:
      return fail(`unknown schedule '${kind}'`);
  }
}
