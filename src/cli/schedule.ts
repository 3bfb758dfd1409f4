/**
 * `magma-lab schedule <spec> [--epochs N]`: prints a λ schedule as a table of epochs, to check a
 * `--magma-schedule` string before training with it.
 */
import { check } from '../config';
import { formatSchedule, parseSchedule, scheduleTable } from '../train/schedules';
import { helpText, type OptionSpecs, parseArgs } from '../options';

/** Options of `magma-lab schedule`. */
export const scheduleOptions = {
  epochs: { type: 'integer', min: 1, default: 20, help: 'epochs to tabulate' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

/** Runs `magma-lab schedule`; returns the exit status. */
export function scheduleCommand(argv: string[]): number {
  const { options, positional } = parseArgs(argv, scheduleOptions, 'schedule');
  if (options.help) {
    process.stdout.write(helpText('magma-lab schedule <spec> [--epochs N]', 'Print a λ schedule (e.g. warmup:0,10,1,100) epoch by epoch.', scheduleOptions));
    return 0;
  }
  check(positional.length === 1, `schedule needs one schedule string, e.g. 'magma-lab schedule warmup:0,10,1,100'`);
  const schedule = parseSchedule(positional[0]);
  const rows = scheduleTable(schedule, options.epochs as number);
  const lines = [`λ schedule ${formatSchedule(schedule)}`, 'epoch  λ', ...rows.map((r) => `${String(r.epoch).padStart(5)}  ${r.lambda}`)];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
