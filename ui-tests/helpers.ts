// Helpers for ui-tests against the embedded JupyterLab (started by
// global-setup.ts). Plain Playwright, no Galata: the app exposes
// window.jupyterapp (page config exposeAppInBrowser), which these helpers use
// to drive notebooks the way JupyterLab's own commands do.
import { Locator, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export const ARTIFACTS = path.join(__dirname, 'artifacts');

/** One cell of a notebook written by writeNotebook(). */
export interface ICellSpec {
  type?: 'code' | 'markdown';
  source: string;
}

/** Console errors and uncaught page errors seen since watchConsole(). */
export interface IConsoleLog {
  errors: string[];
  warnings: string[];
}

/** Base URL of the test server (empty token, no XSRF check). */
export function labUrl(urlPath = ''): string {
  const base = process.env.CLUSTER_BRIDGE_LAB_URL;
  if (!base) {
    throw new Error(
      'CLUSTER_BRIDGE_LAB_URL is not set: run through ui-tests/playwright.config.ts (global-setup.ts starts the server)'
    );
  }
  return `${base}${urlPath}`;
}

/** The server's root folder; files written here appear in the file browser. */
export function labRoot(): string {
  const root = process.env.CLUSTER_BRIDGE_LAB_ROOT;
  if (!root) {
    throw new Error('CLUSTER_BRIDGE_LAB_ROOT is not set (see global-setup.ts)');
  }
  return root;
}

/** Writes an nbformat 4 notebook under the server root; returns its path. */
export function writeNotebook(
  relPath: string,
  cells: Array<string | ICellSpec>,
  kernel: { name: string; display_name: string; language?: string } = {
    name: 'python3',
    display_name: 'Python 3 (ipykernel)',
    language: 'python'
  }
): string {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { language: 'python', ...kernel },
      language_info: { name: 'python' }
    },
    cells: cells.map((c, i) => {
      const spec = typeof c === 'string' ? { source: c } : c;
      const type = spec.type ?? 'code';
      const base = {
        id: `cell-${i}`,
        cell_type: type,
        metadata: {},
        source: spec.source
      };
      return type === 'code'
        ? { ...base, execution_count: null, outputs: [] }
        : base;
    })
  };
  const file = path.join(labRoot(), relPath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(nb, null, 1));
  return relPath;
}

/** Starts collecting console errors/warnings and uncaught errors of a page. */
export function watchConsole(page: Page): IConsoleLog {
  const log: IConsoleLog = { errors: [], warnings: [] };
  page.on('console', msg => {
    const where = msg.location().url;
    const text = where ? `${msg.text()} (${where})` : msg.text();
    if (msg.type() === 'error') {
      log.errors.push(text);
    } else if (msg.type() === 'warning') {
      log.warnings.push(text);
    }
  });
  page.on('pageerror', err => log.errors.push(`pageerror: ${err.message}`));
  return log;
}

/** Opens JupyterLab (optionally at a tree path) and waits until it is restored. */
export async function openLab(page: Page, treePath?: string): Promise<void> {
  const target = treePath ? `/lab/tree/${treePath}` : '/lab';
  // ?reset starts from a clean workspace, whatever earlier tests left open.
  await page.goto(labUrl(`${target}?reset`));
  await page.waitForSelector('body[data-cluster-bridge-app="ready"]', {
    state: 'attached',
    timeout: 90_000
  });
}

/** Names of the prebuilt labextensions the page loaded (page config). */
export async function federatedExtensions(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const el = document.getElementById('jupyter-config-data');
    const data = JSON.parse(el?.textContent || '{}');
    return (data.federated_extensions || []).map(
      (e: { name: string }) => e.name
    );
  });
}

/** Opens a notebook (path relative to the server root) and waits for its kernel. */
export async function openNotebook(page: Page, relPath: string): Promise<void> {
  await openLab(page, relPath);
  const name = path.basename(relPath);
  await page.waitForFunction(
    n => {
      const w = (window as ILabWindow).jupyterapp?.shell.currentWidget;
      return !!w && w.context?.path?.endsWith(n) && !!w.content?.widgets;
    },
    name,
    { timeout: 60_000 }
  );
  // The toolbar fills in once the notebook's settings have loaded.
  await notebookToolbar(page)
    .locator('.jp-Toolbar-item')
    .first()
    .waitFor({ state: 'attached', timeout: 60_000 });
  await waitForKernelIdle(page);
}

/**
 * Shuts down every kernel session of the test server (REST API), so kernels
 * of earlier tests do not pile up on 2 cores. Call it in test.afterEach when a
 * test does not need kernels to outlive it.
 */
export async function shutdownKernels(): Promise<void> {
  const sessions = (await (
    await fetch(labUrl('/api/sessions'))
  ).json()) as Array<{
    id: string;
  }>;
  for (const s of sessions) {
    await fetch(labUrl(`/api/sessions/${s.id}`), { method: 'DELETE' });
  }
  const kernels = (await (
    await fetch(labUrl('/api/kernels'))
  ).json()) as Array<{
    id: string;
  }>;
  for (const k of kernels) {
    await fetch(labUrl(`/api/kernels/${k.id}`), { method: 'DELETE' });
  }
}

/** Waits until the current notebook's kernel is started and idle. */
export async function waitForKernelIdle(
  page: Page,
  timeout = 90_000
): Promise<void> {
  await page.waitForFunction(
    () => {
      const w = (window as ILabWindow).jupyterapp?.shell.currentWidget;
      const sc = w?.sessionContext;
      return !!sc && sc.isReady && sc.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout }
  );
}

/** Name of the current notebook's kernel (e.g. 'python3'). */
export async function kernelName(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      (window as ILabWindow).jupyterapp?.shell.currentWidget?.sessionContext
        ?.session?.kernel?.name ?? ''
  );
}

/** The notebook toolbar of the current notebook. */
export function notebookToolbar(page: Page): Locator {
  return page.locator(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar'
  );
}

/** The index-th cell of the current notebook. */
export function cellLocator(page: Page, index: number): Locator {
  return page
    .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')
    .nth(index);
}

/** Replaces the source of cell `index` in the current notebook. */
export async function setCellSource(
  page: Page,
  index: number,
  source: string
): Promise<void> {
  await page.evaluate(
    ([i, src]) => {
      const nb = (window as ILabWindow).jupyterapp!.shell.currentWidget!
        .content!;
      nb.widgets[i as number].model.sharedModel.setSource(src as string);
    },
    [index, source]
  );
}

/** Appends a cell to the current notebook; returns its index. */
export async function appendCell(
  page: Page,
  source: string,
  type: 'code' | 'markdown' = 'code'
): Promise<number> {
  return page.evaluate(
    ([src, t]) => {
      const nb = (window as ILabWindow).jupyterapp!.shell.currentWidget!
        .content!;
      const shared = nb.model!.sharedModel;
      const index = shared.cells.length;
      shared.insertCell(index, { cell_type: t, source: src });
      return index;
    },
    [source, type]
  );
}

/**
 * Runs cell `index` through JupyterLab's 'notebook:run-cell' command (so the
 * notebook's cell executor decides where it runs) and waits until it has
 * finished. Resolves to the command's result (false when execution failed).
 */
export async function runCell(
  page: Page,
  index: number,
  timeout = 120_000
): Promise<boolean> {
  const run = page.evaluate(async i => {
    const app = (window as ILabWindow).jupyterapp!;
    const nb = app.shell.currentWidget!.content!;
    nb.deselectAll();
    nb.activeCellIndex = i;
    const ok = await app.commands.execute('notebook:run-cell');
    return ok !== false;
  }, index);
  return withTimeout(
    run,
    timeout,
    `cell ${index} did not finish within ${timeout} ms`
  );
}

/** Runs cell `index` with Shift+Enter, as a user would, and waits for its prompt. */
export async function runCellWithKeyboard(
  page: Page,
  index: number,
  timeout = 120_000
): Promise<void> {
  const cell = cellLocator(page, index);
  await cell.locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  await cell
    .locator('.jp-InputPrompt')
    .filter({ hasText: /\[\d+\]/ })
    .waitFor({ timeout });
}

/** Outputs of cell `index` as nbformat JSON, from the notebook model. */
export async function cellOutputs(
  page: Page,
  index: number
): Promise<IOutput[]> {
  return page.evaluate(i => {
    const nb = (window as ILabWindow).jupyterapp!.shell.currentWidget!.content!;
    const model = nb.widgets[i].model;
    return model.outputs ? (model.outputs.toJSON() as IOutput[]) : [];
  }, index);
}

/** The rendered text of cell `index`'s output area. */
export async function cellOutputText(
  page: Page,
  index: number
): Promise<string> {
  const outputs = cellLocator(page, index).locator('.jp-OutputArea-output');
  return (await outputs.allInnerTexts()).join('\n');
}

/** Waits until cell `index`'s rendered output contains `text`. */
export async function waitForOutput(
  page: Page,
  index: number,
  text: string | RegExp,
  timeout = 120_000
): Promise<void> {
  await cellLocator(page, index)
    .locator('.jp-OutputArea-output')
    .filter({ hasText: text })
    .first()
    .waitFor({ timeout });
}

/** Saves a full-page screenshot to ui-tests/artifacts/<name>.png. */
export async function saveScreenshot(
  page: Page,
  name: string
): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** One nbformat output (the fields the tests read). */
export interface IOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

/** The parts of window.jupyterapp the helpers use (typed loosely on purpose). */
interface ILabWindow extends Window {
  jupyterapp?: {
    commands: { execute(id: string, args?: unknown): Promise<unknown> };
    shell: {
      currentWidget: {
        context?: { path: string };
        sessionContext?: {
          isReady: boolean;
          session?: { kernel?: { status: string; name: string } | null } | null;
        };
        content?: {
          widgets: Array<{
            model: {
              sharedModel: { setSource(s: string): void };
              outputs?: { toJSON(): unknown };
            };
          }>;
          model?: {
            sharedModel: {
              cells: unknown[];
              insertCell(
                i: number,
                cell: { cell_type: string; source: string }
              ): void;
            };
          };
          activeCellIndex: number;
          deselectAll(): void;
        };
      } | null;
    };
  };
}

function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  message: string
): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
