/**
 * The notebooks as a person uses them: a Jupyter server on 127.0.0.1 (the one `./run.sh notebook`
 * starts), Debian's Chromium driven by playwright-core (no browser download), 00-quickstart at
 * smoke scale run cell by cell through the menus. Full-page screenshots go to build/browser/
 * (on failure, and after each test, to look at).
 *
 * Skips without Chromium or a Jupyter frontend, unless MAGMA_LAB_REQUIRE_BROWSER=1 (as CI sets it).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { availableFrontend, type NotebookServer, startServer } from '../scripts/notebook-server';
import { ROOT, withScale } from '../scripts/run-notebooks';
import { tempDir } from './helpers';

const CHROMIUM = process.env.MAGMA_LAB_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'build', 'browser');

/** Why the browser test cannot run here, or null. */
function missing(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (sudo apt-get install -y chromium, or set MAGMA_LAB_CHROMIUM)`;
  if (!availableFrontend()) return 'no Jupyter frontend (sudo apt-get install -y jupyter-notebook)';
  return null;
}

// The callbacks of page.evaluate run in the page: they reach its globals (Jupyter, document)
// through globalThis, as this Node project compiles without the DOM's types.

/** One code cell as the page sees it. */
interface CellState {
  index: number;
  type: string;
  /** The prompt number; '*' while queued or running, null before any run. */
  prompt: string | number | null;
  source: string;
}

describe('notebooks in a browser (Jupyter on localhost, headless Chromium)', function () {
  this.timeout(600_000);
  let server: NotebookServer;
  let browser: Browser;
  let page: Page;
  const serverLog: string[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    const why = missing();
    if (why) {
      if (process.env.MAGMA_LAB_REQUIRE_BROWSER === '1') throw new Error(`the browser test must run here (MAGMA_LAB_REQUIRE_BROWSER=1): ${why}`);
      console.log(`    skipped: ${why}`);
      this.skip();
    }
    // The smoke-scale copy in a folder of its own; kernels start in the project root anyway.
    const dir = tempDir('magma-lab-browser-');
    const source = JSON.parse(fs.readFileSync(path.join(ROOT, 'notebooks', '00-quickstart.ipynb'), 'utf8'));
    fs.writeFileSync(path.join(dir, '00-quickstart.ipynb'), JSON.stringify(withScale(source, 'smoke', '00-quickstart.ipynb')));
    server = await startServer({ port: 0, root: dir, log: (t) => serverLog.push(t) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.notebookUrl('00-quickstart.ipynb'));
    await page.waitForFunction(() => (globalThis as any).Jupyter?.notebook?.kernel?.is_connected?.() === true, null, { timeout: 120_000 });
    fs.rmSync(SHOTS, { recursive: true, force: true }); // no screenshot of an earlier run left to mislead
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  afterEach(async function () {
    if (!page) return;
    const name = (this.currentTest?.title ?? 'test').replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    const failed = this.currentTest?.state === 'failed';
    // The classic Notebook scrolls inside #site, under a body that never scrolls: for the
    // screenshot, let the page grow to hold every cell, then put the layout back.
    const unfold = await page.addStyleTag({ content: 'html, body, #ipython-main-app, #notebook_panel, #site { height: auto !important; overflow: visible !important; }' });
    await page.screenshot({ path: path.join(SHOTS, `${failed ? 'FAILED-' : ''}${name}.png`), fullPage: true });
    await unfold.evaluate((style: any) => style.remove());
    if (failed) console.log(`    screenshot: ${path.join(SHOTS, `FAILED-${name}.png`)}; server log:\n${serverLog.join('').split('\n').slice(-15).join('\n')}`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const cells = () => page.evaluate(() => (globalThis as any).Jupyter.notebook.get_cells().map((c: any, index: number) =>
    ({ index, type: c.cell_type, prompt: c.cell_type === 'code' ? c.input_prompt_number ?? null : null, source: c.get_text() })) as CellState[]);
  const kernelIdle = () => page.evaluate(() => (globalThis as any).document.querySelector('#kernel_indicator_icon')?.classList.contains('kernel_idle_icon') ?? false);
  /** Clicks a menu item as a person would: the menu, then the item. */
  const menu = async (menuName: string, itemId: string) => {
    await page.click(`#menus a.dropdown-toggle:text-is("${menuName}")`);
    await page.click(`#${itemId} > a`);
  };
  it('runs every cell of 00-quickstart without an error; the live progress updates ONE output in place', async () => {
    const progressCell = (await cells()).findIndex((c) => c.source.includes('ml.show.progress('));
    assert.ok(progressCell > 0, '00-quickstart has a cell with a live progress display');
    await menu('Cell', 'run_all_cells');
    // While the training cell runs: what its output area holds, every 100 ms.
    const seen: { outputs: number; text: string }[] = [];
    const deadline = Date.now() + 300_000;
    for (;;) {
      const state = await cells();
      if (state.every((c) => c.type !== 'code' || c.prompt !== '*') && await kernelIdle()) break;
      assert.ok(Date.now() < deadline, 'the notebook did not finish in 300 s');
      if (state[progressCell].prompt === '*') {
        seen.push(await page.evaluate((i) => {
          const area = (globalThis as any).Jupyter.notebook.get_cell(i).output_area.element[0];
          return { outputs: area.querySelectorAll(':scope > .output_area').length, text: area.innerText };
        }, progressCell));
      }
      await page.waitForTimeout(100);
    }
    const errors = await page.evaluate(() => (globalThis as any).Jupyter.notebook.get_cells().flatMap((c: any, i: number) =>
      c.cell_type !== 'code' ? [] : c.output_area.outputs
        .filter((o: any) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr' && /error/i.test(o.text)))
        .map((o: any) => `cell ${i}: ${o.ename ?? ''} ${o.evalue ?? o.text}`)));
    assert.deepEqual(errors, [], 'cells reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    const states = seen.filter((s) => s.outputs > 0);
    const texts = new Set(states.map((s) => s.text));
    assert.ok(texts.size >= 2, `the progress display showed ${texts.size} state(s) while training: ${[...texts].join(' | ').slice(0, 300)}`);
    assert.ok(states.every((s) => s.outputs === 1), `the progress went to ${Math.max(...states.map((s) => s.outputs))} output areas, not one updated in place`);
    assert.match([...texts].pop()!, /step \d+\/\d+/, 'the progress shows its counts');
  });

  it('draws every image at its natural size, and every chart (vega-lite) as SVG/canvas or as its PNG fallback', async () => {
    // The size to draw at: the PNG's own, or the width and height its output's metadata gives
    // (charts are rendered at twice their size, to stay sharp on high-density screens).
    const images = await page.evaluate(() => [...(globalThis as any).document.querySelectorAll('.output_area img')].map((i: any) => ({
      natural: [i.naturalWidth, i.naturalHeight],
      intended: [Number(i.getAttribute('width') ?? i.naturalWidth), Number(i.getAttribute('height') ?? i.naturalHeight)],
      shown: [Math.round(i.getBoundingClientRect().width), Math.round(i.getBoundingClientRect().height)],
    })));
    assert.ok(images.length >= 6, `${images.length} images drawn`);
    for (const { natural, intended, shown } of images) {
      assert.ok(natural[0] > 0, 'an image did not load');
      assert.deepEqual(shown, intended, `an image of ${natural.join('×')} px is drawn at ${shown.join('×')}`);
    }
    // Outputs that carry a vega-lite chart: drawn live where the frontend can, else as PNG.
    const charts = await page.evaluate(() => (globalThis as any).Jupyter.notebook.get_cells().flatMap((c: any, i: number) =>
      c.cell_type !== 'code' ? [] : c.output_area.outputs.some((o: any) => Object.keys(o.data ?? {}).some((m) => m.startsWith('application/vnd.vegalite')))
        ? [{ cell: i, svg: c.output_area.element[0].querySelectorAll('svg, canvas').length, png: c.output_area.element[0].querySelectorAll('img').length }] : []));
    assert.ok(charts.length >= 2, `${charts.length} chart outputs`);
    for (const chart of charts) assert.ok(chart.svg + chart.png > 0, `cell ${chart.cell}: the chart is drawn neither as SVG/canvas nor as PNG`);
  });

  it('wraps long code lines: no code cell runs past its edge (the classic Notebook clips them unless told to wrap)', async () => {
    const cut = await page.evaluate(() => [...(globalThis as any).document.querySelectorAll('.code_cell .CodeMirror-scroll')]
      .map((e: any, i: number) => ({ i, over: e.scrollWidth - e.clientWidth })).filter((c: any) => c.over > 1));
    const longest = await page.evaluate(() => Math.max(...(globalThis as any).Jupyter.notebook.get_cells().flatMap((c: any) => c.get_text().split('\n').map((l: string) => l.length))));
    assert.ok(longest > 120, `00-quickstart's longest code line has ${longest} characters: too short to test wrapping at this width`);
    assert.deepEqual(cut, [], 'code cells wider than their box (lines clipped)');
  });

  it('Kernel → Interrupt stops a long training cell within 5 s; the training stops too, and the next cell runs', async () => {
    /** Adds a cell at the bottom with `code` and runs it as a person would: click into it, Shift+Enter. */
    const run = async (code: string) => {
      const index = await page.evaluate((text) => {
        const nb = (globalThis as any).Jupyter.notebook;
        const cell = nb.insert_cell_at_bottom('code');
        cell.set_text(text);
        return nb.find_cell_index(cell) as number;
      }, code);
      const input = page.locator('.cell').nth(index).locator('.CodeMirror');
      await input.scrollIntoViewIfNeeded();
      await input.click();
      await page.keyboard.press('Shift+Enter');
      return index;
    };
    const finished = async (i: number) => {
      try {
        await page.waitForFunction((cell) => {
          const prompt = (globalThis as any).Jupyter.notebook.get_cell(cell).input_prompt_number;
          return prompt !== '*' && prompt !== null && prompt !== undefined;
        }, i, { timeout: 120_000 });
      } catch (e) {
        const state = await page.evaluate((cell) => {
          const c = (globalThis as any).Jupyter.notebook.get_cell(cell);
          const nb = (globalThis as any).Jupyter.notebook;
          return JSON.stringify({ prompt: c.input_prompt_number, text: c.get_text().slice(0, 80), outputs: c.output_area.outputs,
            all: nb.get_cells().slice(24).map((x: any) => [x.input_prompt_number ?? 'u', x.get_text().slice(0, 30)]), connected: nb.kernel.is_connected() }).slice(0, 1500);
        }, i);
        throw new Error(`cell ${i} did not finish in 120 s: ${state}; page errors: ${pageErrors.join(' | ')}`);
      }
    };
    // The trainer in a cell of its own: tslab keeps no declaration of a cell that was interrupted.
    await finished(await run([
      "import * as lab from './src/index';",
      'await lab.useBestBackend();',
      "const longData = await lab.data.load('synthetic', { size: 28, channels: 1, trainSize: 2048, testSize: 64 });",
      'const longModel = lab.createMae(lab.presets.tiny28, { seed: 1 });',
      'const longRun = lab.createTrainer(longModel, { seed: 0, totalSteps: 100_000 });',
    ].join('\n')));
    const long = await run('const longBar = lab.show.progress(longRun, { totalSteps: 100_000 });\nawait longRun.fit(longData.train, { epochs: 1000, batchSize: 32 });');
    // Wait until it trains (its progress shows a step), then interrupt from the menu.
    await page.waitForFunction((i) => /step [1-9]/.test((globalThis as any).Jupyter.notebook.get_cell(i).output_area.element[0].innerText), long, { timeout: 120_000 });
    const interruptedAt = Date.now();
    await menu('Kernel', 'int_kernel');
    await page.waitForFunction((i) => (globalThis as any).Jupyter.notebook.get_cell(i).input_prompt_number !== '*', long, { timeout: 30_000 });
    const seconds = (Date.now() - interruptedAt) / 1000;
    assert.ok(seconds <= 5, `the cell stopped ${seconds.toFixed(1)} s after Kernel → Interrupt`);
    // The next cell runs, in the same kernel, and sees that the training has stopped.
    // tslab aborts what arrives within 200 ms of a failed cell (as ipykernel's stop_on_error does,
    // so that Run All stops at an error): a person's next click comes later than that.
    await page.waitForTimeout(500);
    const check = await run('const stepsThen = longRun.stepCount;\nawait new Promise((r) => setTimeout(r, 2000));\nconsole.log(`steps ${stepsThen} then ${longRun.stepCount}`);');
    await finished(check);
    const text = await page.evaluate((i) => JSON.stringify((globalThis as any).Jupyter.notebook.get_cell(i).output_area.outputs), check);
    const [, then, now] = /steps (\d+) then (\d+)/.exec(text) ?? [];
    const longOutputs = await page.evaluate((i) => JSON.stringify((globalThis as any).Jupyter.notebook.get_cell(i).output_area.outputs).slice(0, 600), long);
    assert.ok(then !== undefined, `the cell after the interrupt printed: ${text}; the interrupted cell: ${longOutputs}`);
    assert.ok(Number(then) > 0 && then === now, `the training went on after the interrupt: ${then} steps, then ${now}`);
    assert.ok(await page.evaluate(() => (globalThis as any).Jupyter.notebook.kernel.is_connected()), 'the kernel is alive');
  });
});
