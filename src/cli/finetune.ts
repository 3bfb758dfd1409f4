/**
 * `magma-lab finetune <run>`: fine-tunes a run's checkpoint for classification on its dataset
 * (ml.eval.finetune) and writes `finetune-<blocks>[-scratch].json` in the run folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { describeBackend, type BackendReport } from '../backend';
import { check } from '../config';
import { load } from '../data/load';
import { finetune, type FinetuneBlocks } from '../eval/finetune';
import { labelledDataOptions, writeFinetuneResult } from '../experiments/run';
import { lockFolder } from '../io';
import { ProgressBar } from '../progress';
import { loadCheckpoint } from '../train/trainer';
import { type OptionSpecs, parseArgs } from '../options';
import { readRunConfig } from '../train/runFolder';

/** Options of `magma-lab finetune`. */
export const finetuneOptions = {
  blocks: { type: 'string', default: 'all', help: "what trains: 0 (the head alone), mlp (the last block's MLP), K (the last K blocks) or all" },
  init: { type: 'string', choices: ['pretrained', 'random'], default: 'pretrained', help: 'random: the same ViT trained from scratch (MAE §4\'s baseline)' },
  pool: { type: 'string', choices: ['mean', 'cls'], default: 'mean', help: 'the head reads the mean patch token through a fresh LayerNorm (MAE\'s global pooling) or the CLS token' },
  epochs: { type: 'number', positive: true, default: 10, help: 'passes over the train set' },
  batchSize: { type: 'integer', min: 1, default: 128, help: 'images per step' },
  baseLr: { type: 'number', positive: true, default: 5e-4, help: 'lr per 256 images (peak lr = base-lr × batch / 256)' },
  layerDecay: { type: 'number', positive: true, default: 0.75, help: 'layer-wise lr decay' },
  labelSmoothing: { type: 'number', min: 0, default: 0.1, help: 'label smoothing of the cross-entropy' },
  augment: { type: 'boolean', default: true, help: 'random-resized crop + horizontal flip' },
  seed: { type: 'integer', default: 0, help: 'seed of the head, data order and augmentation' },
  name: { type: 'string', help: 'the result goes to finetune-<name>.json in the run folder (default: <blocks>, or <blocks>-scratch; an existing file is never overwritten: -2, -3, … are added)' },
  dataDir: { type: 'string', help: 'folder holding the dataset files (default: as in the run\'s config.json)' },
  trainLimit: { type: 'integer', min: 1, help: 'fine-tune on the first N train images only' },
  testLimit: { type: 'integer', min: 1, help: 'measure on the first N test images only' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

/** `0`, `mlp`, `3` or `all` → a {@link FinetuneBlocks}. */
function parseBlocks(text: string): FinetuneBlocks {
  if (text === 'mlp' || text === 'all') return text;
  const k = Number(text);
  check(Number.isInteger(k) && k >= 0, `--blocks ${text} is not valid; give 0, mlp, a number of blocks from the top, or all`);
  return k;
}

/** Runs `magma-lab finetune <run>`; resolves to the results file written. */
export async function finetuneCommand(argv: string[], backend: BackendReport): Promise<string> {
  const { options: o, positional } = parseArgs(argv, finetuneOptions, 'finetune');
  check(positional.length === 1, `finetune needs exactly one run folder, e.g. 'magma-lab finetune runs/mae-fashion-mnist-...', got ${positional.length}`);
  const runDir = positional[0];
  const blocks = parseBlocks(o.blocks as string);
  const setup = readRunConfig(runDir);
  process.stderr.write(`${describeBackend(backend)}\n`);
  const unlock = lockFolder(runDir);
  try {
    const { trainer } = loadCheckpoint(runDir);
    const data = await load(setup.dataset, {
      ...labelledDataOptions(setup),
      ...(o.dataDir ? { dir: o.dataDir as string } : {}),
      ...(o.trainLimit ? { trainLimit: o.trainLimit as number } : {}),
      ...(o.testLimit ? { testLimit: o.testLimit as number } : {}),
    });
    // Chosen before the minutes of fine-tuning (the folder is locked): a bad --name fails at once.
    const file = freeResultFile(runDir, (o.name as string | undefined) ?? `${blocks}${o.init === 'random' ? '-scratch' : ''}`);
    const bar = new ProgressBar('finetune');
    const result = await finetune(trainer.model, data, {
      blocks, init: o.init as 'pretrained' | 'random', pool: o.pool as 'cls' | 'mean', epochs: o.epochs as number, batchSize: o.batchSize as number,
      baseLr: o.baseLr as number, layerDecay: o.layerDecay as number, labelSmoothing: o.labelSmoothing as number, augment: o.augment as boolean,
      seed: o.seed as number, onProgress: (done, total) => bar.update({ done, total }),
    });
    bar.finish();
    console.log(`${data.name}: fine-tuned top-1 ${(100 * result.accuracy).toFixed(2)} % on ${data.test.size} test images\n  recipe: ${result.recipe}`);
    writeFinetuneResult(file, result, trainer.stepCount);
    process.stderr.write(`written ${file}\n`);
    result.dispose();
    trainer.dispose();
    trainer.model.dispose();
    return file;
  } finally {
    unlock();
  }
}

/** `finetune-<name>.json` in `runDir`, or with -2, -3, … added when that exists: results are never overwritten. */
function freeResultFile(runDir: string, name: string): string {
  check(/^[A-Za-z0-9._-]+$/.test(name), `--name '${name}' must be a file name part (letters, digits, '.', '_', '-')`);
  const at = (n: number) => path.join(runDir, `finetune-${name}${n > 1 ? `-${n}` : ''}.json`);
  let n = 1;
  while (fs.existsSync(at(n))) n++;
  if (n > 1) process.stderr.write(`${at(1)} exists (an earlier fine-tuning); this one goes to ${at(n)}\n`);
  return at(n);
}
