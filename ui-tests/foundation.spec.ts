// the embedded JupyterLab loads our prebuilt labextension, shows its
// toolbar item on a notebook, runs a plain cell on ipykernel and a
// `%%cluster local` cell through the bridge. Screenshots: ui-tests/artifacts/.
import { expect, test } from '@playwright/test';
import {
  cellOutputs,
  cellOutputText,
  federatedExtensions,
  kernelName,
  notebookToolbar,
  openLab,
  openNotebook,
  runCell,
  saveScreenshot,
  shutdownKernels,
  waitForOutput,
  watchConsole,
  writeNotebook
} from './helpers';

const EXTENSION = 'jupyterlab-cluster-bridge';

test.afterEach(async () => {
  await shutdownKernels();
});

test('the embedded JupyterLab loads without console errors', async ({
  page
}) => {
  const log = watchConsole(page);
  await openLab(page);
  await expect(page.locator('#jp-main-dock-panel')).toBeVisible();
  await expect(page.locator('.jp-LauncherCard').first()).toBeVisible();
  await saveScreenshot(page, 'foundation-lab');
  expect(log.errors).toEqual([]);
});

test('the demo notebook opens on the python3 kernel', async ({ page }) => {
  const log = watchConsole(page);
  await openNotebook(page, 'examples/demo.ipynb');
  expect(await kernelName(page)).toBe('python3');
  await expect(page.locator('.jp-MarkdownCell h1').first()).toContainText(
    'Cluster Bridge demo'
  );
  await saveScreenshot(page, 'foundation-demo-notebook');
  expect(log.errors).toEqual([]);
});

test('a plain Python cell runs on the local ipykernel', async ({ page }) => {
  writeNotebook('ui/foundation-local.ipynb', [
    'import sys\nprint("ipykernel says", 6 * 7, sys.version_info[0])'
  ]);
  await openNotebook(page, 'ui/foundation-local.ipynb');
  const ok = await runCell(page, 0);
  expect(ok, `output: ${await cellOutputText(page, 0)}`).toBe(true);
  await waitForOutput(page, 0, 'ipykernel says 42 3');
  await saveScreenshot(page, 'foundation-local-cell');
});

test('our labextension is loaded and its toolbar item is on the notebook', async ({
  page
}) => {
  writeNotebook('ui/foundation-toolbar.ipynb', ['1 + 1']);
  await openNotebook(page, 'ui/foundation-toolbar.ipynb');
  expect(
    await federatedExtensions(page),
    `${EXTENSION} is not in the server's labextensions path: build it (npm run build:labextension) and install it (cluster-bridge install --prefix .jupyter-data)`
  ).toContain(EXTENSION);
  await saveScreenshot(page, 'foundation-toolbar');
  await expect(
    notebookToolbar(page).locator('.jp-ClusterBridge-picker')
  ).toBeVisible();
});

test('a %%cluster local cell runs through the bridge', async ({ page }) => {
  writeNotebook('ui/foundation-cluster.ipynb', [
    '%%cluster local\nprint(6*7)',
    'print("local after remote")'
  ]);
  await openNotebook(page, 'ui/foundation-cluster.ipynb');
  const ok = await runCell(page, 0, 180_000);
  await saveScreenshot(page, 'foundation-cluster-cell');
  const text = await cellOutputText(page, 0);
  expect(ok, `the %%cluster cell failed; its output: ${text}`).toBe(true);
  await waitForOutput(page, 0, /\b42\b/);
  expect(text).not.toMatch(/UsageError|Traceback|SyntaxError/);
  expect(await runCell(page, 1)).toBe(true);
  await waitForOutput(page, 1, 'local after remote');
  await saveScreenshot(page, 'foundation-cluster-cell');
});

test('the demo notebook runs top to bottom', async ({ page }) => {
  const log = watchConsole(page);
  await openNotebook(page, 'examples/demo.ipynb');
  const types: string[] = await page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.content.widgets.map(
      (w: { model: { type: string } }) => w.model.type
    )
  );
  const code = types.flatMap((t, i) => (t === 'code' ? [i] : []));
  expect(code).toHaveLength(5);
  const [hello, table, plot, error, local] = code;

  const ran: Record<number, boolean> = {};
  for (const i of code) {
    ran[i] = await runCell(page, i, 240_000);
  }
  const mimes = async (i: number) =>
    (await cellOutputs(page, i)).flatMap(o => Object.keys(o.data ?? {}));

  expect(ran[hello], await cellOutputText(page, hello)).toBe(true);
  await waitForOutput(page, hello, /hello from .* running Python 3/);
  expect(ran[table], await cellOutputText(page, table)).toBe(true);
  expect(await mimes(table)).toContain('text/html');
  await expect(
    page.locator('.jp-Cell').nth(table).locator('.jp-OutputArea-output table')
  ).toContainText('n squared');
  expect(ran[plot], await cellOutputText(page, plot)).toBe(true);
  expect(await mimes(plot)).toContain('image/png');
  expect(ran[error]).toBe(false);
  const errors = (await cellOutputs(page, error)).filter(
    o => o.output_type === 'error'
  );
  expect(errors.map(e => e.ename)).toEqual(['ZeroDivisionError']);
  expect(ran[local], await cellOutputText(page, local)).toBe(true);
  await waitForOutput(page, local, 'local kernel: /usr/bin/python3');

  await page.evaluate(
    i => (window as any).jupyterapp.shell.currentWidget.content.scrollToItem(i),
    plot
  );
  await saveScreenshot(page, 'foundation-demo-run');
  expect(log.errors).toEqual([]);
});
