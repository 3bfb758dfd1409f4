/**
 * The error thrown for data files that are missing, malformed or inconsistent.
 */

/**
 * A data problem. The message names the file (or dataset), what was expected and what was found,
 * and ends with `Fix: ...`, what to do about it.
 */
export class DataError extends Error {
  override name = 'DataError';

  /**
   * @param path the file or directory at fault (or the dataset name when no single path is)
   * @param problem what was expected and what was found
   * @param fix what the user should do
   */
  constructor(readonly path: string, readonly problem: string, readonly fix: string) {
    super(`${path}: ${problem}\nFix: ${fix}`);
  }
}
