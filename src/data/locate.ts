/**
 * Where datasets are looked for. Every file dataset is searched, in order, in: the `dir` option
 * alone when given; else `$MAGMA_LAB_DATA/<folder>`, `<repo>/data/<folder>` and the dataset's
 * system folders. `<folder>` is the name of the official archive's top folder (e.g.
 * `cifar-10-batches-bin`), so an archive unpacked into `data/` is found as it is.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';

/** The repository (package) root: two folders above this module, in src/data/ or dist/data/. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The folders searched for a dataset, in order: `[dir]` when given (an explicit folder must
 * hold the files); otherwise, for each name in `folders`, `$MAGMA_LAB_DATA/<name>` and
 * `<repo>/data/<name>`, then `systemDirs`.
 */
export function datasetDirs(folders: string[], dir?: string, systemDirs: string[] = []): string[] {
  if (dir !== undefined) return [dir];
  const env = process.env.MAGMA_LAB_DATA;
  const roots = [...(env ? [env] : []), path.join(REPO_ROOT, 'data')];
  return [...roots.flatMap((root) => folders.map((f) => path.join(root, f))), ...systemDirs];
}

/** How {@link findDatasetDir} recognizes a dataset's folder. */
export interface DatasetFolderSpec {
  /** Dataset name, for messages. */
  name: string;
  /** Whether a folder holds the dataset (e.g. one of its files exists). */
  holds: (dir: string) => boolean;
  /** What a folder must hold, for the not-found message (e.g. `data_batch_1.bin … test_batch.bin`). */
  expected: string;
  /** How to get the dataset. */
  fix: string;
  /** Called on each existing folder that does not hold the dataset: a DataError for a recognizably wrong one (e.g. another version of the archive). */
  diagnose?: (dir: string) => DataError | undefined;
}

/**
 * The first of `dirs` that holds the dataset.
 * @throws DataError from `spec.diagnose` for a wrong archive (when no folder holds the right
 *   one), or one listing every place looked in
 */
export function findDatasetDir(dirs: string[], spec: DatasetFolderSpec): string {
  const found = dirs.find((dir) => spec.holds(dir));
  if (found !== undefined) return found;
  for (const dir of dirs) {
    const wrong = fs.existsSync(dir) ? spec.diagnose?.(dir) : undefined;
    if (wrong) throw wrong;
  }
  const env = dirs.length > 1 && !process.env.MAGMA_LAB_DATA ? '\n($MAGMA_LAB_DATA is not set)' : '';
  throw new DataError(spec.name, `dataset not found: expected ${spec.expected} in one of:\n${dirs.map((d) => `  ${d}`).join('\n')}${env}`, spec.fix);
}

/** Whether `file` exists and is a regular file (not a folder). */
export function isFile(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}
