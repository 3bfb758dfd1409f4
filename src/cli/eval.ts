/**
 * `magma-lab eval <run>`: re-evaluates a run's checkpoint on its dataset and rewrites results.json.
 */
import { describeBackend, type BackendReport } from '../backend';
import { check } from '../config';
import { load } from '../data/load';
import { lockFolder } from '../io';
import { loadCheckpoint } from '../train/trainer';
import { type OptionSpecs, parseArgs } from '../options';
import { readRunConfig } from '../train/runFolder';
import { evaluateRun } from '../experiments/run';

/** Options of `magma-lab eval`. */
export const evalOptions = {
  dataDir: { type: 'string', help: 'folder holding the dataset files (default: as in the run\'s config.json)' },
  testLimit: { type: 'integer', min: 1, help: 'evaluate on the first N test images only' },
  probeEpochs: { type: 'integer', min: 1, help: 'linear-probe epochs (default: as in the run\'s config.json)' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

/** Runs `magma-lab eval <run>`. */
export async function evalCommand(argv: string[], backend: BackendReport): Promise<void> {
  const { options, positional } = parseArgs(argv, evalOptions, 'eval');
  check(positional.length === 1, `eval needs exactly one run folder, e.g. 'magma-lab eval runs/mae-fashion-mnist-...', got ${positional.length}`);
  const runDir = positional[0];
  const setup = readRunConfig(runDir);
  process.stderr.write(`${describeBackend(backend)}\n`);
  const unlock = lockFolder(runDir); // not while a training writes the same folder
  try {
    const { trainer } = loadCheckpoint(runDir);
    const data = await load(setup.dataset, {
      ...setup.dataOptions,
      ...(options.dataDir ? { dir: options.dataDir as string } : {}),
      ...(options.testLimit ? { testLimit: options.testLimit as number } : {}),
    });
    await evaluateRun(trainer, data, (options.probeEpochs as number | undefined) ?? setup.probeEpochs, runDir);
  } finally {
    unlock();
  }
}
