/**
 * The notebook runner (scripts/run-notebooks.ts): its parts without Jupyter, then the real thing
 * (skipped when Debian's Jupyter is missing): every notebook in notebooks/ at smoke scale, and a failing notebook
 * whose error must reach the terminal.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { jupyterMissing, KERNEL_NAME, parseArgs, registerKernel, ROOT, withScale } from '../scripts/run-notebooks';
import { writePaperArchives } from './fixtures/archives';
import { tempDir } from './helpers';

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}
interface Notebook {
  cells: { cell_type: string; source: string | string[]; outputs?: Output[] }[];
}

const source = (c: Notebook['cells'][number]) => (Array.isArray(c.source) ? c.source.join('') : c.source);

/** The parameter cell says `scale`; every other code cell has output, none an error or stderr. */
function assertRanAtScale(nb: Notebook, scale: 'smoke' | 'full', name: string): void {
  const code = nb.cells.filter((c) => c.cell_type === 'code');
  assert.match(source(code[0]), new RegExp(`const SCALE = '${scale}'`), `${name}: the parameter cell says ${scale}`);
  for (const cell of code.slice(1)) {
    const outputs = cell.outputs ?? [];
    assert.ok(outputs.length > 0, `${name}: no output from:\n${source(cell)}`);
    for (const o of outputs) {
      assert.notEqual(o.output_type, 'error', `${name}: error output from:\n${source(cell)}`);
      assert.ok(!(o.output_type === 'stream' && o.name === 'stderr'), `${name}: stderr from:\n${source(cell)}\n${o.text}`);
    }
  }
}

/** Runs `npm run notebooks` the way a user does (in `env`, default this process's); returns exit status and output. */
function runNotebooks(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(ROOT, 'scripts', 'run-notebooks.ts'), ...args], {
    cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function notebookFile(dir: string, cells: string[]): string {
  const file = path.join(dir, 'check.ipynb');
  const nb = { nbformat: 4, nbformat_minor: 4, metadata: { kernelspec: { name: KERNEL_NAME, display_name: 'TypeScript (magma-lab)', language: 'typescript' } }, cells: cells.map((s) => ({ cell_type: 'code', source: s, metadata: {}, outputs: [], execution_count: null })) };
  fs.writeFileSync(file, JSON.stringify(nb));
  return file;
}

describe('notebook runner', () => {
  it('sets SCALE in the parameter cell, and explains a notebook without one', () => {
    const nb = { cells: [{ cell_type: 'markdown', source: 'const SCALE = 1' }, { cell_type: 'code', source: ["// parameters\n", "const SCALE = 'smoke' as 'smoke' | 'full';\n", 'const n = 2;'] }] };
    const out = withScale(nb, 'full', 'x.ipynb');
    assert.equal(out.cells[1].source, "// parameters\nconst SCALE = 'full' as 'smoke' | 'full';\nconst n = 2;");
    assert.equal(out.cells[0], nb.cells[0]);
    assert.throws(() => withScale({ cells: [nb.cells[0]] }, 'full', 'x.ipynb'), /x\.ipynb: no parameter cell; add a code cell starting with `\/\/ parameters`/);
    // Paper scale runs only where the notebook's SCALE has it.
    assert.throws(() => withScale(nb, 'paper', 'x.ipynb'), /x\.ipynb: its parameter cell has no paper scale/);
    const withPaper = { cells: [{ cell_type: 'code', source: "// parameters\nconst SCALE = 'smoke' as 'smoke' | 'full' | 'paper';" }] };
    assert.equal(withScale(withPaper, 'paper', 'y.ipynb').cells[0].source, "// parameters\nconst SCALE = 'paper' as 'smoke' | 'full' | 'paper';");
  });

  it('parses its options and defaults to every notebook in notebooks/ at smoke scale', () => {
    const all = parseArgs([]);
    assert.equal(all.scale, 'smoke');
    assert.ok(all.notebooks.some((f) => f.endsWith(path.join('notebooks', '00-quickstart.ipynb'))));
    const one = parseArgs(['notebooks/00-quickstart.ipynb', '--scale=full', '--timeout', '60', '--out', 'tmp-out']);
    assert.deepEqual([one.notebooks.length, one.scale, one.timeout, one.outDir], [1, 'full', 60, path.resolve('tmp-out')]);
    assert.throws(() => parseArgs(['--scale', 'huge']), /--scale must be smoke, full or paper, got 'huge'/);
    assert.equal(parseArgs(['--scale', 'paper', '--dry-run']).dryRun, true);
    assert.throws(() => parseArgs(['--dry-run']), /--dry-run checks the paper recipes: give --scale paper/);
    assert.throws(() => parseArgs(['--fast']), /unknown option --fast; usage/);
  });

  it('registers a kernel inside the project that starts tslab in the project root', () => {
    const share = registerKernel();
    assert.equal(share, path.join(ROOT, '.jupyter', 'share', 'jupyter'));
    const spec = JSON.parse(fs.readFileSync(path.join(share, 'kernels', KERNEL_NAME, 'kernel.json'), 'utf8'));
    assert.deepEqual(spec.argv.slice(3), [ROOT, process.execPath, '{connection_file}']);
    assert.match(spec.argv[2], /^cd "\$0" && exec "\$1" node_modules\/tslab\/bin\/tslab kernel --config-path "\$2"$/);
  });

  it('the committed notebooks hold a full-scale run: SCALE full, every code cell has output, none an error or stderr', () => {
    for (const file of fs.readdirSync(path.join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb'))) {
      const nb = JSON.parse(fs.readFileSync(path.join(ROOT, 'notebooks', file), 'utf8')) as Notebook;
      assertRanAtScale(nb, 'full', file);
    }
  });

  it('library code imports files, not folders (tslab resolves `./x` only as x.ts, never x/index.ts)', () => {
    const bad: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (file.endsWith('.ts')) {
          for (const m of fs.readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*?from '(\.[^']*)'/gm)) {
            const target = path.resolve(dir, m[1]);
            if (!fs.existsSync(`${target}.ts`) && fs.existsSync(path.join(target, 'index.ts'))) bad.push(`${path.relative(ROOT, file)}: '${m[1]}' → '${m[1]}/index'`);
          }
        }
      }
    };
    walk(path.join(ROOT, 'src'));
    assert.deepEqual(bad, [], `notebooks cannot import the library until these imports name the file:\n  ${bad.join('\n  ')}`);
  });

  describe('with Jupyter', function () {
    this.timeout(900_000);
    before(function () {
      const missing = jupyterMissing();
      if (missing) {
        console.log(`      (skipped: ${missing})`);
        this.skip();
      }
    });

    // Every notebook of the folder: a new one is tested the day it is committed.
    const names = fs.readdirSync(path.join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort().map((f) => f.slice(0, -'.ipynb'.length));
    // Notebooks that train on the paper's datasets, which no machine here has: they run on tiny copies in the official
    // layouts (test/fixtures/archives.ts), found where a user's would be, through $MAGMA_LAB_DATA.
    const onPaperArchives = new Set(['17-paper-table']);
    for (const name of names) {
      it(`runs ${name} at smoke scale: every code cell has output, none an error; the HTML exists`, async () => {
        const out = tempDir();
        const archives = onPaperArchives.has(name) ? await writePaperArchives(tempDir('magma-lab-archives-')) : undefined;
        const env = archives ? { ...process.env, MAGMA_LAB_DATA: path.dirname(archives.cifar100) } : process.env;
        const r = runNotebooks([`notebooks/${name}.ipynb`, '--scale', 'smoke', '--timeout', '600', '--out', out], env);
        assert.equal(r.status, 0, `npm run notebooks failed:\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`notebooks/${name}\\.ipynb: ok in \\d+ s`));
        const nb = JSON.parse(fs.readFileSync(path.join(out, `${name}.ipynb`), 'utf8')) as Notebook;
        assertRanAtScale(nb, 'smoke', name);
        // Every notebook closes on a table (text/html). Figures are optional (05 is all tables), but
        // every chart carries its PNG fallback, and every PNG reaches the exported HTML.
        const bundles = nb.cells.filter((c) => c.cell_type === 'code').flatMap((c) => (c.outputs ?? []).map((o) => Object.keys(o.data ?? {})));
        assert.ok(bundles.some((b) => b.includes('text/html')), 'no table (text/html output)');
        for (const b of bundles) if (b.includes('application/vnd.vegalite.v5+json')) assert.ok(b.includes('image/png'), `a chart without its PNG fallback: ${b.join(', ')}`);
        const html = fs.readFileSync(path.join(out, `${name}.html`), 'utf8');
        const pngs = bundles.filter((b) => b.includes('image/png')).length;
        assert.ok((html.match(/<img src="data:image\/png;base64,/g) ?? []).length >= pngs, `${pngs} PNG outputs, fewer in the HTML`);
        assert.doesNotMatch(html, /mathjax/i, 'the HTML loads MathJax (a CDN script; the notebooks write no TeX)');
        // The archives were found (and so trained on), each in its own folder.
        for (const dir of Object.values(archives ?? {})) assert.ok(JSON.stringify(nb).includes(dir), `${name} did not report ${dir} as found`);
      });
    }

    it('a failing cell: exit status 1, the cell and its stderr printed, the partial notebook and HTML written', () => {
      const dir = tempDir();
      const file = notebookFile(dir, ["// parameters\nconst SCALE = 'smoke' as 'smoke' | 'full';", "console.log('before');", "throw new Error('boom ' + (6 * 7));", "console.log('never');"]);
      const r = runNotebooks([file, '--out', dir + '/out']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /--- cell 2 ---\nthrow new Error\('boom ' \+ \(6 \* 7\)\);\n--- its output ---\n\[stderr\][^]*\nError: boom 42\n/);
      const executed = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'check.ipynb'), 'utf8')) as Notebook;
      assert.match(JSON.stringify(executed.cells[1].outputs), /before/);
      assert.deepEqual(executed.cells[3].outputs, []);
      assert.ok(fs.existsSync(path.join(dir, 'out', 'check.html')));
    });
  });
});
