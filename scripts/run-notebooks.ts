/**
 * `npm run notebooks [-- <files>] [--scale smoke|full|paper] [--timeout <s>] [--out <dir>]`
 * `npm run notebooks -- --scale paper --dry-run [<files>]`
 *
 * Executes notebooks headlessly in the tslab kernel and exports them to HTML:
 * 1. registers a kernel `magma-lab` inside the project (.jupyter/share/jupyter/kernels, found
 *    through JUPYTER_PATH; nothing is installed globally) whose command starts tslab in the
 *    project root, so that cells can `import * as ml from './src'`;
 * 2. writes a temporary copy of each notebook with the scale set in its parameter cell (the code
 *    cell starting with `// parameters`, declaring `const SCALE = ...`);
 * 3. runs it with nbconvert's ExecutePreprocessor (what `jupyter nbconvert --to notebook
 *    --execute` runs) in Debian's Python, and writes the executed copy and an HTML export with PNG
 *    ranked above the vega-lite JSON the export cannot draw to build/notebooks/, also when a cell
 *    fails (nbconvert alone writes nothing then);
 * 4. on failure prints the failing cell's source and its outputs (tslab reports errors on the
 *    cell's stderr, which nbconvert does not print), and exits with 1.
 *
 * With `--dry-run` (paper scale only) it runs no notebook: it checks each one's paper recipe
 * (src/experiments/paper.ts) without training and prints a table (src/experiments/dryRun.ts);
 * it exits with 1 when a recipe is missing or its step fails.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The project root (this file is in scripts/). */
export const ROOT = path.resolve(__dirname, '..');
/** Debian's Python, which has Jupyter (`python3` on PATH may be another one). */
export const PYTHON = process.env.MAGMA_LAB_PYTHON ?? '/usr/bin/python3';
/** The kernel this runner registers. */
export const KERNEL_NAME = 'magma-lab';
const JUPYTER_APT = 'jupyter-core jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel';

/** What a run is asked to do. */
export interface RunOptions {
  notebooks: string[];
  scale: 'smoke' | 'full' | 'paper';
  /** Check the paper recipes instead of running notebooks. */
  dryRun: boolean;
  /** Seconds per cell; 0 = no limit. */
  timeout: number;
  outDir: string;
}

/** The result of one notebook. */
export interface NotebookResult {
  notebook: string;
  ok: boolean;
  seconds: number;
  executed: string;
  html: string;
  /** Index of the failing cell, when one failed. */
  failedCell?: number;
  error?: string;
}

/** Why Jupyter cannot run here (with the fix), or null when it can. */
export function jupyterMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import nbconvert, nbclient, nbformat, jupyter_client'], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return `${PYTHON} cannot import nbconvert/nbclient/jupyter_client (${(r.error?.message ?? r.stderr).trim().split('\n').pop()}); ` +
    `install them with: sudo apt-get install -y --no-install-recommends ${JUPYTER_APT} (or set MAGMA_LAB_PYTHON)`;
}

/** Writes the kernel spec and returns the JUPYTER_PATH entry that makes Jupyter find it. */
export function registerKernel(): string {
  const share = path.join(ROOT, '.jupyter', 'share', 'jupyter');
  const dir = path.join(share, 'kernels', KERNEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const spec = {
    // tslab compiles cells relative to its working directory: start it in the project root.
    argv: ['/bin/sh', '-c', 'cd "$0" && exec "$1" node_modules/tslab/bin/tslab kernel --config-path "$2"', ROOT, process.execPath, '{connection_file}'],
    display_name: 'TypeScript (magma-lab)',
    language: 'typescript',
  };
  fs.writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify(spec, null, 2) + '\n');
  return share;
}

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: { output_type: string; name?: string; text?: string | string[]; data?: Record<string, unknown> }[];
}

const text = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join('') : s ?? '');
const SCALE_LINE = /^(\s*const\s+SCALE\b[^=\n]*=\s*)(['"])[^'"\n]*\2/m;

/** The notebook with `const SCALE = '<scale>'` in its parameter cell. */
export function withScale(notebook: { cells: Cell[] }, scale: string, file: string): { cells: Cell[] } {
  const index = notebook.cells.findIndex((c) => c.cell_type === 'code' && text(c.source).trimStart().startsWith('// parameters'));
  if (index < 0 || !SCALE_LINE.test(text(notebook.cells[index].source))) {
    throw new Error(`${file}: no parameter cell; add a code cell starting with \`// parameters\` that declares \`const SCALE = 'smoke' as 'smoke' | 'full';\``);
  }
  const declaration = text(notebook.cells[index].source).split('\n').find((line) => /^\s*const\s+SCALE\b/.test(line)) ?? '';
  if (scale === 'paper' && !declaration.includes("'paper'")) {
    throw new Error(`${file}: its parameter cell has no paper scale (\`const SCALE = ... as 'smoke' | 'full' | 'paper'\` reading ml.experiments.paperRecipe); check its recipe with --dry-run`);
  }
  const cells = notebook.cells.map((c, i) => (i === index ? { ...c, source: text(c.source).replace(SCALE_LINE, `$1'${scale}'`) } : c));
  return { ...notebook, cells };
}

/** Executes one notebook file and exports it (Python side: nbconvert's ExecutePreprocessor and HTMLExporter). */
const DRIVER = String.raw`
import json, re, sys, traceback
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor
from traitlets.config import Config

source, executed, html, kernel, timeout, cwd = sys.argv[1:7]

class Executor(ExecutePreprocessor):
    """Remembers the cell being run, and numbers code cells (tslab sends no execute_input, which carries the count)."""
    current = None
    count = 0
    def preprocess_cell(self, cell, resources, index):
        self.current = index
        self.count += cell.cell_type == "code"
        return self.execute_cell(cell, index, execution_count=self.count, store_history=True), self.resources

nb = nbformat.read(source, as_version=4)
executor = Executor(kernel_name=kernel, timeout=None if float(timeout) <= 0 else int(timeout))
result = {"ok": True}
try:
    executor.preprocess(nb, {"metadata": {"path": cwd}})
except Exception as e:
    result = {"ok": False, "failedCell": executor.current, "error": "".join(traceback.format_exception_only(type(e), e)).strip()}
nbformat.write(nb, executed)
config = Config()
# The HTML export cannot run vega (and blanks SVG outputs): PNG before everything but HTML.
config.NbConvertBase.display_data_priority = ["text/html", "image/png", "image/jpeg", "text/markdown", "text/latex", "text/plain"]
body, _ = HTMLExporter(config=config).from_notebook_node(nb)
# Long code and output lines wrap instead of running off the page (the template scrolls them sideways).
wrap = "<style>.jp-InputArea-editor .highlight pre, .jp-RenderedText pre { white-space: pre-wrap; overflow-wrap: anywhere; }</style>"
body = body.replace("</head>", wrap + "\n</head>", 1)
# No MathJax: the notebooks write no TeX, and the template's CDN script would be fetched by every reader (offline, its
# loading message covers the figures).
body = re.sub(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", "", body, count=1, flags=re.S)
with open(html, "w", encoding="utf-8") as f:
    f.write(body)
print(json.dumps(result))
`;

/** Runs one notebook; writes `<out>/<name>.ipynb` and `<out>/<name>.html`. */
export function runNotebook(file: string, opts: Omit<RunOptions, 'notebooks'>, jupyterPath: string): NotebookResult {
  const name = path.basename(file, '.ipynb');
  const notebook = withScale(JSON.parse(fs.readFileSync(file, 'utf8')), opts.scale, file);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'magma-lab-notebook-'));
  const source = path.join(tmp, `${name}.ipynb`);
  fs.writeFileSync(source, JSON.stringify(notebook, null, 1));
  fs.mkdirSync(opts.outDir, { recursive: true });
  const executed = path.join(opts.outDir, `${name}.ipynb`);
  const html = path.join(opts.outDir, `${name}.html`);
  const start = Date.now();
  const env = {
    ...process.env,
    JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  const r = spawnSync(PYTHON, ['-c', DRIVER, source, executed, html, KERNEL_NAME, String(opts.timeout), ROOT], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  fs.rmSync(tmp, { recursive: true, force: true });
  const seconds = (Date.now() - start) / 1000;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let result: Pick<NotebookResult, 'ok' | 'failedCell' | 'error'>;
  try {
    result = JSON.parse(last);
  } catch {
    result = { ok: false, error: `the nbconvert driver failed (exit ${r.status}):\n${r.stderr || r.error?.message}` };
  }
  // A kernel that dies takes its last words to the driver's stderr: keep their end.
  if (!result.ok && /DeadKernelError|Kernel died/.test(result.error ?? '')) {
    result.error += `\nthe kernel's last stderr lines:\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`;
  }
  return { notebook: file, ...result, seconds, executed, html };
}

/** The failing cell's source and outputs (stderr holds tslab's error message), for the terminal. */
export function describeFailure(result: NotebookResult): string {
  const lines = [`${result.notebook}: FAILED after ${result.seconds.toFixed(0)} s: ${result.error ?? 'unknown error'}`];
  if (result.failedCell !== undefined && fs.existsSync(result.executed)) {
    const cell = (JSON.parse(fs.readFileSync(result.executed, 'utf8')) as { cells: Cell[] }).cells[result.failedCell];
    lines.push(`--- cell ${result.failedCell} ---`, text(cell.source), '--- its output ---');
    for (const o of cell.outputs ?? []) {
      if (o.output_type === 'stream') lines.push(`[${o.name}] ${text(o.text).trimEnd()}`);
      else lines.push(`[${o.output_type}] ${Object.keys(o.data ?? {}).join(', ')}`);
    }
  }
  lines.push(`executed copy: ${result.executed}`, `HTML: ${result.html}`);
  return lines.join('\n');
}

/** Parses `[files] [--scale smoke|full] [--timeout s] [--out dir]`. */
export function parseArgs(argv: string[]): RunOptions {
  const opts: RunOptions = { notebooks: [], scale: 'smoke', dryRun: false, timeout: 0, outDir: path.join(ROOT, 'build', 'notebooks') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--scale') {
      const s = value();
      if (s !== 'smoke' && s !== 'full' && s !== 'paper') throw new Error(`--scale must be smoke, full or paper, got '${s}'`);
      opts.scale = s;
    } else if (flag === '--dry-run') {
      opts.dryRun = true;
    } else if (flag === '--timeout') {
      opts.timeout = Number(value());
      if (!(opts.timeout >= 0)) throw new Error('--timeout must be a number of seconds (0 = no limit)');
    } else if (flag === '--out') {
      opts.outDir = path.resolve(value());
    } else if (flag.startsWith('--')) {
      throw new Error(`unknown option ${flag}; usage: npm run notebooks [-- <files>] [--scale smoke|full|paper] [--dry-run] [--timeout <s>] [--out <dir>]`);
    } else {
      opts.notebooks.push(path.resolve(argv[i]));
    }
  }
  if (opts.notebooks.length === 0) {
    const dir = path.join(ROOT, 'notebooks');
    opts.notebooks = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort().map((f) => path.join(dir, f));
  }
  for (const f of opts.notebooks) if (!fs.existsSync(f)) throw new Error(`no such notebook: ${f}`);
  if (opts.dryRun && opts.scale !== 'paper') throw new Error('--dry-run checks the paper recipes: give --scale paper');
  return opts;
}

/** Checks every notebook's paper recipe without training; prints the table; returns the exit status. */
export async function dryRun(notebooks: string[]): Promise<number> {
  const ml = await import('../src/index');
  console.error(ml.describeBackend(await ml.useBestBackend()));
  const recipes = [];
  let failed = 0;
  for (const file of notebooks) {
    const name = path.basename(file, '.ipynb');
    const recipe = ml.experiments.paperRecipes[name];
    if (recipe) recipes.push(recipe);
    else {
      failed++;
      console.error(`${name}: no paper recipe; add one to src/experiments/paper.ts (paperRecipes)`);
    }
  }
  const { rows, skipped } = await ml.experiments.dryRun(recipes, (name) => console.error(`dry run: ${name}...`));
  failed += rows.filter((r) => r.step.status === 'failed').length;
  console.log(ml.experiments.formatDryRun(rows, skipped));
  return failed ? 1 : 0;
}

/** Runs the notebooks one after the other; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  if (opts.dryRun) return dryRun(opts.notebooks);
  const missing = jupyterMissing();
  if (missing) {
    console.error(`notebooks: ${missing}`);
    return 2;
  }
  const jupyterPath = registerKernel();
  let failed = 0;
  for (const file of opts.notebooks) {
    const rel = path.relative(ROOT, file);
    console.error(`notebooks: running ${rel} at ${opts.scale} scale...`);
    const result = runNotebook(file, opts, jupyterPath);
    if (result.ok) {
      console.log(`${rel}: ok in ${result.seconds.toFixed(0)} s → ${path.relative(ROOT, result.executed)}, ${path.relative(ROOT, result.html)}`);
    } else {
      failed++;
      console.error(describeFailure({ ...result, notebook: rel }));
    }
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((status) => { process.exitCode = status; }, (e) => {
    console.error(`notebooks: ${(e as Error).message}`);
    process.exitCode = 2;
  });
}
