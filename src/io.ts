/**
 * Files written so that readers never see half of them, and run folders that one process at a
 * time writes to.
 *
 * A write goes to a temporary file in the same folder (`<file>.tmp-<pid>`), in a loop until every
 * byte is written, is fsynced, has its size checked, and is then renamed over the target (atomic on
 * POSIX file systems), and the folder is fsynced so the rename survives a power cut. A full disk
 * or a read-only folder throws a {@link FileError} and leaves the previous file as it was.
 * Temporary files left by killed processes are removed by the next write beside them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * A file that could not be written or read, or a run folder in use. The message names the file,
 * the problem and the fix.
 */
export class FileError extends Error {
  override name = 'FileError';

  constructor(readonly file: string, readonly problem: string, readonly fix: string) {
    super(`${problem} (${file}): ${fix}`);
  }
}

/** Options of {@link writeFileAtomic}. */
export interface WriteOptions {
  /**
   * Keep the file being replaced under this name (a hard link, else a copy), so a bad new version
   * can be rolled back. Made only once the new file is complete.
   */
  keepPreviousAs?: string;
  /** Permission bits of the new file (e.g. 0o755 for a script). Default 0o666 less the umask. */
  mode?: number;
}

/** Writes `data` to `file` atomically, creating its folder if needed. */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  const folder = path.dirname(path.resolve(file));
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.mkdirSync(folder, { recursive: true });
    removeStaleTempFiles(file);
    const fd = fs.openSync(tmp, 'w', opts.mode);
    try {
      // writeSync may write fewer bytes than asked (a full disk, a signal): loop until all are out.
      for (let written = 0; written < bytes.length;) written += fs.writeSync(fd, bytes, written, bytes.length - written);
      fs.fsyncSync(fd);
      const size = fs.fstatSync(fd).size;
      if (size !== bytes.length) throw Object.assign(new Error(`wrote ${size} of ${bytes.length} bytes`), { code: 'ESHORT' });
    } finally {
      fs.closeSync(fd);
    }
    if (opts.keepPreviousAs && fs.existsSync(file)) keepCopy(file, opts.keepPreviousAs);
    fs.renameSync(tmp, file);
    fsyncFolder(folder);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(e as NodeJS.ErrnoException, file);
  }
}

/** Writes pretty-printed JSON atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Appends one line (with its newline) to `file` in one write, with the same errors as {@link writeFileAtomic}. */
export function appendLine(file: string, line: string): void {
  try {
    fs.appendFileSync(file, `${line}\n`);
  } catch (e) {
    throw writeError(e as NodeJS.ErrnoException, file);
  }
}

/** `to` becomes a second name of `from` (a copy where hard links are not supported), atomically. */
function keepCopy(from: string, to: string): void {
  const tmp = `${to}.tmp-${process.pid}`;
  removeStaleTempFiles(to);
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(from, tmp);
  } catch {
    fs.copyFileSync(from, tmp);
  }
  fs.renameSync(tmp, to);
  // rename() does nothing when both names are already links to the same file (a kill between the
  // previous write's link and its rename leaves them so): the temporary name must still go.
  fs.rmSync(tmp, { force: true });
}

function fsyncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(folder, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some systems (Windows, some network file systems) cannot fsync a folder: the rename stands.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Removes `<file>.tmp-<pid>` files whose process is gone (left by a kill during a write). */
export function removeStaleTempFiles(file: string): void {
  const folder = path.dirname(path.resolve(file));
  const prefix = `${path.basename(file)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(folder, name), { force: true });
  }
}

/**
 * Whether a process with this pid runs on this machine. On Linux a thread id answers kill() too,
 * and thread ids come from the same counter as pids (which wraps at 32768 by default), so only a
 * thread-group leader counts as a process.
 */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return true; // no /proc (macOS), or it just exited: trust kill()
  }
  const tgid = /^Tgid:\s*(\d+)/m.exec(status);
  return !tgid || Number(tgid[1]) === pid;
}

/** A file-system error as a {@link FileError} that says what to do; other errors as they are. */
function writeError(e: NodeJS.ErrnoException, file: string): Error {
  const kept = 'the previous version of the file, if any, is intact';
  switch (e.code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'ESHORT':
      return new FileError(file, `no space left on the device (${e.message})`, `${kept}; free some space or write elsewhere (e.g. --runs-dir), then retry`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new FileError(file, `cannot write here (${e.code})`, `${kept}; make the folder writable or choose another one`);
    case 'ENOTDIR':
    case 'EISDIR':
      return new FileError(file, `a path component is not a folder, or the target is one (${e.code})`, 'choose another path');
    default:
      return e;
  }
}

/** Throws a {@link FileError} when this process cannot create files in `folder`. */
export function assertWritable(folder: string): void {
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch (e) {
    throw writeError(e as NodeJS.ErrnoException, folder);
  }
}

/** Who holds a run folder's lock. */
export interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /** The Slurm job (SLURM_JOB_ID) of the process, when it runs as one. */
  job?: string;
}

/**
 * Takes the lock of a run folder (`<folder>/.lock`, holding the pid, host and start time), so
 * that a second process cannot write into it at the same time. A lock left by a process that is
 * gone (same host, dead pid) is taken over. Returns the function that releases it (also called
 * when the process exits).
 */
export function lockFolder(folder: string): () => void {
  fs.mkdirSync(folder, { recursive: true });
  const lock = path.join(folder, '.lock');
  const job = process.env.SLURM_JOB_ID;
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), ...(job ? { job } : {}) };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(e as NodeJS.ErrnoException, lock);
    }
    const owner = readLock(lock);
    // Slurm runs one instance of a job at a time: a lock of this job is a requeued task's own, left on another node.
    const stale = owner === null || (owner.host === me.host && !processAlive(owner.pid)) || (job !== undefined && owner.job === job);
    if (!stale || attempt > 0) {
      throw new FileError(lock, `the run folder is in use by process ${owner?.pid} on ${owner?.host} since ${owner?.since}`,
        `wait for that run to finish; if it is gone (another machine, or a reused pid), delete ${lock}`);
    }
    fs.rmSync(lock, { force: true }); // its process is gone: take it over
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    if (readLock(lock)?.pid === me.pid) fs.rmSync(lock, { force: true });
  };
  process.on('exit', release);
  return release;
}

/** The process holding a folder's lock, or null when it is free (or its holder on this host is gone). */
export function lockHolder(folder: string): LockOwner | null {
  const owner = readLock(path.join(folder, '.lock'));
  return owner && (owner.host !== os.hostname() || processAlive(owner.pid)) ? owner : null;
}

function readLock(lock: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(lock, 'utf8')) as LockOwner;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null; // half-written or unreadable: its writer died while writing it
  }
}
