/**
 * `magma-lab train`: train a masked autoencoder on a dataset, evaluate it, and write a run folder
 * (src/experiments/run.ts says what it holds).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BackendReport } from '../backend';
import { check } from '../config';
import { runConfigFromSettings, trainOptions, trainRun, type TrainSettings } from '../experiments/run';
import { lockFolder } from '../io';
import { kebab, parseArgs } from '../options';
import { resolveTrainerOptions } from '../train/options';
import { readRunConfig } from '../train/runFolder';

export { trainOptions };

type TrainArgs = { [K in keyof typeof trainOptions]: string | number | boolean | undefined };

/** What `--resume` may change: how far to go and what to do after, never the training itself. */
const CHANGEABLE_ON_RESUME = new Set(['resume', 'stopAfter', 'eval', 'probeEpochs', 'dataDir', 'runsDir']);

/** Runs `magma-lab train` with command-line arguments; resolves to the run folder. */
export async function trainCommand(argv: string[], backend: BackendReport): Promise<string> {
  const { options, given } = parseArgs(argv, trainOptions, 'train');
  const args = options as TrainArgs;
  const resumeDir = args.resume as string | undefined;
  if (resumeDir) {
    const changes = [...given].filter((name) => !CHANGEABLE_ON_RESUME.has(name)).map((name) => `--${kebab(name)}`);
    check(changes.length === 0, `--resume continues ${resumeDir} with the settings in its config.json; ${changes.join(', ')} would change the run. ` +
      `Drop ${changes.length > 1 ? 'them' : 'it'} (with --resume only --stop-after, --eval/--no-eval, --probe-epochs and --data-dir may be given), or start a new run with --name`);
  }
  const { help: _help, resume: _resume, stopAfter: _stopAfter, ...settings } = args;
  const setup = resumeDir ? readRunConfig(resumeDir) : runConfigFromSettings(settings as TrainSettings);
  if (resumeDir) {
    if (given.has('eval')) setup.eval = args.eval as boolean;
    if (given.has('probeEpochs')) setup.probeEpochs = args.probeEpochs as number;
    if (given.has('dataDir')) setup.dataOptions.dir = args.dataDir as string;
  }
  resolveTrainerOptions(setup.trainer, setup.model.encoderDepth); // fail on bad options before loading data
  const runDir = resumeDir ?? path.join(args.runsDir as string, setup.name);
  check(resumeDir !== undefined || !fs.existsSync(runDir), `run folder ${runDir} exists; choose another --name, or continue it with --resume ${runDir}`);
  const unlock = lockFolder(runDir);
  try {
    const trainer = await trainRun(runDir, setup, { resume: resumeDir !== undefined, stopAfter: args.stopAfter as number | undefined, backend });
    trainer.dispose();
    trainer.model.dispose();
    return runDir;
  } finally {
    unlock();
  }
}

