/**
 * The `magma-lab` command: `train`, `eval`, `finetune`, `data`, `schedule`, `--help`. Every error is one
 * message, `error: <what> (<file>): <how to fix>`, without a stack:
 * - exit 2: something the user can fix (options, data files, checkpoints, run folders, disk space);
 * - exit 1: a training that diverged (non-finite loss or gradient), or an unexpected error (a bug:
 *   `MAGMA_LAB_DEBUG=1` prints its stack).
 */
import { useBestBackend } from '../backend';
import { ConfigError } from '../config';
import { DataError } from '../data/errors';
import { FileError } from '../io';
import { CheckpointError } from '../train/checkpoint';
import { NonFiniteLossError } from '../train/trainer';
import { helpText } from '../options';
import { dataCommand } from './data';
import { evalCommand, evalOptions } from './eval';
import { finetuneCommand, finetuneOptions } from './finetune';
import { scheduleCommand } from './schedule';
import { sweepCommand, sweepHelp, sweepOptions } from './sweep';
import { trainCommand, trainOptions } from './train';

const usage = `usage: magma-lab <command> [options]

commands:
  train          train a masked autoencoder, evaluate it, write runs/<name>/
  eval <run>     re-evaluate a run's checkpoint (k-NN, linear probe, pixel baseline)
  finetune <run> fine-tune a run's checkpoint for classification (--blocks 0|mlp|K|all)
  data <name>    find, validate and describe a dataset; decode and cache image folders
  schedule <λ>   print a MAGMA λ schedule (e.g. warmup:0,10,1,100) epoch by epoch
  sweep <grid>   run an experiment grid (methods × seeds × datasets × settings) as independent runs:
                 here (--jobs N), or as a Slurm job array / command list (--emit); --merge <dir> tables it

'magma-lab <command> --help' lists a command's options.
Environment: MAGMA_LAB_BACKEND=tensorflow|wasm|cpu forces a backend; MAGMA_LAB_DATA is where datasets are looked for;
MAGMA_LAB_NATIVE=0 turns the native kernels off; MAGMA_LAB_DEBUG=1 prints the stack of an unexpected error.
`;

/** Runs the command line; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'train') {
      if (rest.includes('--help')) return printHelp(helpText('magma-lab train [options]', 'Train a masked autoencoder, evaluate it, and write a run folder.', trainOptions));
      await trainCommand(rest, await useBestBackend());
      return 0;
    }
    if (command === 'eval') {
      if (rest.includes('--help')) return printHelp(helpText('magma-lab eval <run> [options]', 'Re-evaluate the checkpoint of a run folder and rewrite its results.json.', evalOptions));
      await evalCommand(rest, await useBestBackend());
      return 0;
    }
    if (command === 'finetune') {
      if (rest.includes('--help')) return printHelp(helpText('magma-lab finetune <run> [options]', 'Fine-tune the checkpoint of a run folder for classification (or train its ViT from scratch) and write finetune-<blocks>.json.', finetuneOptions));
      await finetuneCommand(rest, await useBestBackend());
      return 0;
    }
    if (command === 'sweep') {
      if (rest.includes('--help')) return printHelp(helpText('magma-lab sweep <grid.json> [options] | magma-lab sweep --merge <dir>', sweepHelp, sweepOptions));
      return await sweepCommand(rest, useBestBackend);
    }
    if (command === 'data') return await dataCommand(rest);
    if (command === 'schedule') return scheduleCommand(rest);
    if (command === undefined || command === '--help' || command === 'help') return printHelp(usage);
    process.stderr.write(`unknown command '${command}'\n\n${usage}`);
    return 2;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof DataError || e instanceof FileError || e instanceof CheckpointError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NonFiniteLossError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if (process.env.MAGMA_LAB_DEBUG === '1') throw e;
    process.stderr.write(`error: ${(e as Error).message ?? e}\n(unexpected: probably a bug in magma-lab; MAGMA_LAB_DEBUG=1 prints the stack)\n`);
    return 1;
  }
}

function printHelp(text: string): number {
  process.stdout.write(text);
  return 0;
}
