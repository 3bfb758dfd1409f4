/**
 * The `magma-lab` command: `train`, `eval`, `data`, `schedule`, `--help`. User errors (bad options, missing data)
 * print their message and exit with status 2; a NaN loss prints its message and exits 1; anything
 * else prints the stack and exits 1.
 */
import { useBestBackend } from '../backend';
import { ConfigError } from '../config';
import { DataError } from '../data/errors';
import { NonFiniteLossError } from '../train/trainer';
import { helpText } from './args';
import { dataCommand } from './data';
import { evalCommand, evalOptions } from './eval';
import { scheduleCommand } from './schedule';
import { trainCommand, trainOptions } from './train';

const usage = `usage: magma-lab <command> [options]

commands:
  train          train a masked autoencoder, evaluate it, write runs/<name>/
  eval <run>     re-evaluate a run's checkpoint (k-NN, linear probe, pixel baseline)
  data <name>    find, validate and describe a dataset; decode and cache image folders
  schedule <λ>   print a MAGMA λ schedule (e.g. warmup:0,10,1,100) epoch by epoch

'magma-lab <command> --help' lists a command's options.
Environment: MAGMA_LAB_BACKEND=tensorflow|wasm|cpu forces a backend; MAGMA_LAB_DATA is where datasets are looked for.
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
    if (command === 'data') return await dataCommand(rest);
    if (command === 'schedule') return scheduleCommand(rest);
    if (command === undefined || command === '--help' || command === 'help') return printHelp(usage);
    process.stderr.write(`unknown command '${command}'\n\n${usage}`);
    return 2;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof DataError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NonFiniteLossError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function printHelp(text: string): number {
  process.stdout.write(text);
  return 0;
}
