/**
 * `magma-lab data <name>`: load a dataset as training would and print what was found (where,
 * counts per split against the official ones, classes, image size, storage, decode cache), or
 * the exact problem. For image-folder datasets this decodes and caches them, so it is also the
 * way to prepare the cache ahead of training.
 */
import { check } from '../config';
import type { Dataset, DatasetSplits } from '../data/dataset';
import { datasetNames, datasetOptionKeys, isDatasetName, load } from '../data/load';
import { helpText, type OptionSpecs, parseArgs } from '../options';

/** Options of `magma-lab data`. */
export const dataOptions = {
  dir: { type: 'string', help: 'folder holding the dataset (default: $MAGMA_LAB_DATA/<archive folder>, data/<archive folder>, system locations)' },
  verify: { type: 'boolean', help: 'also check the md5/sha256 of the files against the published ones (where published)' },
  size: { type: 'integer', min: 8, help: 'image side for image-folder datasets (tiny-imagenet, imagenet100)' },
  cache: { type: 'boolean', help: 'use the decode cache of image-folder datasets (default on)' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

const USAGE = `magma-lab data <${datasetNames.join('|')}> [options]`;
const DESCRIPTION = 'Find, validate and describe a dataset (image folders are decoded and cached).';

/** Runs `magma-lab data`; prints the report on stdout and resolves to the exit status. */
export async function dataCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(helpText(USAGE, DESCRIPTION, dataOptions));
    return 0;
  }
  const { options, positional } = parseArgs(argv, dataOptions, 'data');
  const [name, ...extra] = positional;
  check(name !== undefined && extra.length === 0, `expected one dataset name; usage: ${USAGE}`);
  check(isDatasetName(name), `unknown dataset '${name}'; valid names: ${datasetNames.join(', ')}`);
  const known = datasetOptionKeys(name);
  const loadOptions: Record<string, unknown> = {};
  for (const key of ['dir', 'size', 'cache'] as const) {
    if (options[key] === undefined) continue;
    check(known.includes(key), `--${key} does not apply to ${name}`);
    loadOptions[key] = options[key];
  }
  const verifiable = known.includes('verify');
  if (options.verify && verifiable) loadOptions.verify = true;
  if (known.includes('unlabeled')) loadOptions.unlabeled = true;
  const data = await load(name, loadOptions);
  process.stdout.write(describe(data, options.verify === true, verifiable));
  return 0;
}

/** The report of a loaded dataset. */
function describe(data: DatasetSplits, verify: boolean, verifiable: boolean): string {
  const official = data.officialCounts as Record<string, number | undefined> | undefined;
  const split = (label: string, ds: Dataset) => {
    const expected = official?.[label];
    const note = expected === undefined ? '' : expected === ds.size ? ' (as released)' : ` (the official release has ${expected})`;
    return `  ${label.padEnd(10)} ${String(ds.size).padStart(7)} images${note}, ${ds.inMemory ? 'in memory' : `read per batch from ${ds.storage.description}`}`;
  };
  const names = data.classNames.length > 12 ? `${data.classNames.slice(0, 12).join(', ')}, …` : data.classNames.join(', ');
  const lines = [
    `${data.name}: found in ${data.source}`,
    split('train', data.train),
    split('test', data.test),
    ...(data.unlabeled ? [split('unlabeled', data.unlabeled)] : []),
    `  images     ${data.train.shape.join('×')} uint8`,
    `  classes    ${data.classNames.length}: ${names}`,
    ...(data.coarse ? [`  coarse     ${data.coarse.classNames.length} superclasses (data.coarse)`] : []),
    ...(data.caches ?? []).map((c) => `  cache      ${c.split}: ${c.status === 'hit' ? 'read from' : 'written to'} ${c.file}`),
  ];
  if (verify) lines.push(verifiable ? '  verify     checksums match the published files' : `  verify     no checksums are published for ${data.name}'s unpacked files; checked sizes, headers and labels`);
  return `${lines.join('\n')}\n`;
}
