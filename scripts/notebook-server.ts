/**
 * `./run.sh notebook [--port N]` (or `npm run notebook -- [--port N]`): Jupyter on localhost,
 * with the project's kernel "TypeScript (magma-lab)" registered inside the project and a random
 * token; prints the URL to open, and runs until Ctrl-C.
 *
 * The frontend is what the setup ships:
 * - JupyterLab (`jupyter lab`) where it is installed, as conda's environment.yml does. It draws
 *   the vega-lite charts live (SVG).
 * - Else the classic Notebook 6 server (`jupyter notebook`), Debian's `jupyter-notebook` package
 *   (Debian 12 has no JupyterLab). It cannot draw vega-lite, so charts show as their PNG rendering.
 *
 * The browser test (test/browser.test.ts) starts its server with {@link startServer}.
 */
import { spawn, spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { registerKernel, ROOT } from './run-notebooks';

/** The two Jupyter frontends this project runs under. */
export type Frontend = 'lab' | 'notebook';

/** The Jupyter command: on PATH (conda, or Debian's /usr/bin/jupyter). */
const JUPYTER = process.env.MAGMA_LAB_JUPYTER ?? 'jupyter';

/** The version of `jupyter <frontend>`, or null when that frontend is not installed. */
export function frontendVersion(frontend: Frontend): string | null {
  const r = spawnSync(JUPYTER, [frontend, '--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').pop()!.trim() : null;
}

/** JupyterLab when installed, else the classic Notebook server, else null. */
export function availableFrontend(): Frontend | null {
  return (['lab', 'notebook'] as const).find((f) => frontendVersion(f) !== null) ?? null;
}

/** A running server. */
export interface NotebookServer {
  frontend: Frontend;
  port: number;
  token: string;
  /** The page to open (the file tree), token included. */
  url: string;
  /** The URL of a file of the served folder, e.g. `notebooks/00-quickstart.ipynb`, token included. */
  notebookUrl(file: string): string;
  /** Stops the server (and its kernels) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Default 8888; 0 picks a free port. */
  port?: number;
  /** The folder the server shows. Default: the project root. Kernels start in the project root anyway. */
  root?: string;
  /** Default: {@link availableFrontend}. */
  frontend?: Frontend;
  /** Where the server's log goes. Default: this process's stderr. */
  log?: (text: string) => void;
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The classic Notebook's frontend settings for this project: code cells wrap long lines (its
 * CodeMirror otherwise clips them at the cell's edge), unless the user's own
 * ~/.jupyter/nbconfig/notebook.json says otherwise. Written to `.jupyter/config/nbconfig/` and put
 * on JUPYTER_CONFIG_PATH. (JupyterLab keeps its editor settings elsewhere: Settings → Notebook.)
 * @returns the config folder
 */
function frontendConfig(): string {
  const userFile = path.join(process.env.JUPYTER_CONFIG_DIR ?? path.join(os.homedir(), '.jupyter'), 'nbconfig', 'notebook.json');
  let user: { CodeCell?: { cm_config?: { lineWrapping?: boolean } } } = {};
  try {
    user = JSON.parse(fs.readFileSync(userFile, 'utf8'));
  } catch {
    // no user setting (or one Jupyter itself would not read): ours applies
  }
  const dir = path.join(ROOT, '.jupyter', 'config');
  fs.mkdirSync(path.join(dir, 'nbconfig'), { recursive: true });
  const lineWrapping = user.CodeCell?.cm_config?.lineWrapping ?? true;
  fs.writeFileSync(path.join(dir, 'nbconfig', 'notebook.json'), JSON.stringify({ CodeCell: { cm_config: { lineWrapping } } }, null, 2) + '\n');
  return dir;
}

const INSTALL_HINT = 'on Debian: sudo apt-get install -y --no-install-recommends jupyter-notebook (./run.sh notebook does it as root); with conda: conda env create -f environment.yml (JupyterLab)';

/** Starts Jupyter on 127.0.0.1 with a random token and resolves once it answers. */
export async function startServer(opts: ServerOptions = {}): Promise<NotebookServer> {
  const frontend = opts.frontend ?? availableFrontend();
  if (!frontend) throw new Error(`neither JupyterLab nor the classic Notebook server is installed; ${INSTALL_HINT}`);
  const port = opts.port === 0 ? await freePort() : opts.port ?? 8888;
  const token = randomBytes(24).toString('hex');
  const log = opts.log ?? ((text: string) => process.stderr.write(text));
  // Notebook 6 is configured as NotebookApp; JupyterLab runs on jupyter_server's ServerApp.
  const app = frontend === 'lab' ? 'ServerApp' : 'NotebookApp';
  const args = [frontend, '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
    `--${app}.token=${token}`, `--${app}.${frontend === 'lab' ? 'root_dir' : 'notebook_dir'}=${opts.root ?? ROOT}`,
    // Both refuse to run as root without it (containers and CI machines often are root).
    ...(process.getuid?.() === 0 ? ['--allow-root'] : [])];
  const child = spawn(JUPYTER, args, { env: { ...process.env, JUPYTER_PATH: registerKernel(), JUPYTER_CONFIG_PATH: [frontendConfig(), process.env.JUPYTER_CONFIG_PATH].filter(Boolean).join(path.delimiter) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output += chunk.toString(); log(chunk.toString()); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => { gone = true; });

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) throw new Error(`jupyter ${frontend} exited before it served ${base}; its last lines:\n${output.trim().split('\n').slice(-10).join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`jupyter ${frontend} did not answer on ${base} within 60 s`);
    }
    try {
      if ((await fetch(`${base}/api/status?token=${token}`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const page = frontend === 'lab' ? 'lab/tree' : 'notebooks';
  return {
    frontend, port, token,
    url: `${base}/${frontend === 'lab' ? 'lab' : 'tree'}?token=${token}`,
    notebookUrl: (file) => `${base}/${page}/${file.split('/').map(encodeURIComponent).join('/')}?token=${token}`,
    stop: async () => {
      if (gone) return;
      child.kill('SIGTERM'); // both servers shut their kernels down on SIGTERM
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The command: start, print the URL, run until Ctrl-C. */
async function main(argv: string[]): Promise<void> {
  let port = 8888;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=');
    if (flag === '--port') port = Number(inline ?? argv[++i]);
    else throw new Error(`unknown option '${argv[i]}'; usage: ./run.sh notebook [--port N]`);
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new Error(`--port must be a port number, got '${inline ?? argv[i]}'`);
  }
  const server = await startServer({ port }); // the server's log goes to stderr
  const version = frontendVersion(server.frontend);
  console.log(`${server.frontend === 'lab' ? `JupyterLab ${version}` : `Jupyter Notebook ${version} (classic)`} is serving ${ROOT}:`);
  console.log(`\n    ${server.url}\n`);
  console.log("Open notebooks/00-quickstart.ipynb; its kernel is \"TypeScript (magma-lab)\". " +
    (server.frontend === 'lab' ? 'Charts draw live (vega-lite).' : 'This frontend cannot draw vega-lite: charts show as PNG.'));
  console.log('Ctrl-C stops the server and its kernels.');
  const stop = () => void server.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`notebook: ${(e as Error).message}`);
    process.exitCode = 2;
  });
}
