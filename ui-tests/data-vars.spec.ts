// Variables in and out, in the browser: a Python 3 (ipykernel) notebook
// sends a local numpy array to the `local` cluster with --in, gets the
// result back with --out and uses it in a local cell; a missing --out name is
// a clear error that leaves the earlier value alone; `%cluster push` puts a
// value into the notebook's session for later cells; the stop button during
// the export (in the notebook's own kernel) stops the cell before it is sent.
import { expect, Page, test } from '@playwright/test';
import { startCell, statusLine } from './cluster-helpers';
import {
  cellOutputs,
  cellOutputText,
  notebookToolbar,
  openNotebook,
  runCell,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';

const REMOTE = 180_000;

// Leave no session behind: shutting the notebook's kernel down stops them.
test.afterEach(async ({ page }) => {
  await page
    .evaluate(async () => {
      const w = (window as any).jupyterapp?.shell.currentWidget;
      await w?.sessionContext?.shutdown();
    })
    .catch(() => undefined);
});

/** The prompt number JupyterLab shows for cell `index` (the model's count). */
async function executionCount(page: Page, index: number): Promise<unknown> {
  return page.evaluate(
    i =>
      (window as any).jupyterapp.shell.currentWidget.content.widgets[i].model
        .executionCount,
    index
  );
}

test('--in sends a local array, --out brings the result back, a local cell uses it', async ({
  page
}) => {
  const notebook = writeNotebook('ui/data-vars.ipynb', [
    'import numpy as np; a = np.arange(2_000_000)',
    '%%cluster local --in a --out b\nb = a * 2',
    'print(int(b[-1]), type(b).__name__)',
    '%%cluster local --in a --out b,nope\nb = a * 3',
    'print(int(b[-1]))'
  ]);
  await openNotebook(page, notebook);

  expect(await runCell(page, 0)).toBe(true);
  expect(await runCell(page, 1, REMOTE)).toBe(true);
  expect(await runCell(page, 2)).toBe(true);
  await waitForOutput(page, 2, '3999998 ndarray');
  // The export and import ran silently: no output of theirs in the remote
  // cell, and the notebook's own prompt numbers went on 1, 2.
  expect(
    (await cellOutputs(page, 1)).filter(o => o.output_type === 'error')
  ).toEqual([]);
  expect(await executionCount(page, 0)).toBe(1);
  expect(await executionCount(page, 2)).toBe(2);
  await saveScreenshot(page, 'data-vars-in-out');

  // A missing --out name: the cell fails, saying which, and no value is set.
  expect(await runCell(page, 3, REMOTE)).toBe(false);
  const errors = (await cellOutputs(page, 3)).filter(
    o => o.output_type === 'error'
  );
  expect(errors).toHaveLength(1);
  expect(`${errors[0].ename}: ${errors[0].evalue}`).toMatch(/nope/);
  expect(await runCell(page, 4)).toBe(true);
  await waitForOutput(page, 4, /^3999998$/m);
  await saveScreenshot(page, 'data-vars-missing-out');
});

test('%cluster push puts a local value into the session; a later %%cluster cell uses it', async ({
  page
}) => {
  const notebook = writeNotebook('ui/data-push.ipynb', [
    'import numpy as np; a = np.arange(2_000_000)',
    '%cluster push local a',
    '%%cluster local\nprint(a.sum())',
    '%cluster push local not_defined_here'
  ]);
  await openNotebook(page, notebook);

  expect(await runCell(page, 0)).toBe(true);
  expect(await runCell(page, 1, REMOTE)).toBe(true);
  expect(await runCell(page, 2, REMOTE)).toBe(true);
  await waitForOutput(page, 2, /^1999999000000$/m);

  // An unknown local name stops the push in the notebook's kernel: a clear
  // error in the cell, nothing sent.
  expect(await runCell(page, 3, REMOTE)).toBe(false);
  expect(await cellOutputText(page, 3)).toMatch(/not_defined_here/);
  // Name and message, not a traceback through the export code.
  const [error] = await cellOutputs(page, 3);
  expect(error.traceback).toHaveLength(1);
  await saveScreenshot(page, 'data-vars-push');
});

test('interrupt during the --in export stops the cell before anything is sent', async ({
  page
}) => {
  const notebook = writeNotebook('ui/data-interrupt.ipynb', [
    [
      'import time',
      'class Slow:',
      '    def __reduce__(self):',
      '        time.sleep(120)',
      '        return (int, (1,))',
      'slow, a = Slow(), 1'
    ].join('\n'),
    "%%cluster local --in slow\nprint('ran', slow)",
    "%%cluster local --in a\nprint('got', a)"
  ]);
  await openNotebook(page, notebook);
  expect(await runCell(page, 0)).toBe(true);

  await startCell(page, 1);
  // Pickling `slow` sleeps inside the notebook's kernel: the export step.
  await page.waitForFunction(
    () =>
      (window as any).jupyterapp.shell.currentWidget.sessionContext.session
        .kernel.status === 'busy',
    undefined,
    { timeout: REMOTE }
  );
  await notebookToolbar(page)
    .locator('[data-command="notebook:interrupt-kernel"]')
    .click();
  await waitForOutput(page, 1, /KeyboardInterrupt.*nothing was sent/, 60_000);
  const outputs = await cellOutputs(page, 1);
  expect(outputs.map(o => o.ename)).toEqual(['KeyboardInterrupt']);
  // Never sent: no job, no status line, no remote prompt number.
  await expect(statusLine(page, 1)).toHaveCount(0);
  expect(await executionCount(page, 1)).toBeNull();

  // The notebook goes on: the next variables cell runs.
  expect(await runCell(page, 2, REMOTE)).toBe(true);
  await waitForOutput(page, 2, /^got 1$/m);
  await saveScreenshot(page, 'data-vars-interrupt');
});

test('"Run All" waits for --out before the local cell that uses it', async ({
  page
}) => {
  // JupyterLab starts every cell of "Run All" at once; the local cell
  // must still see the value the remote cell sends back.
  const notebook = writeNotebook('ui/data-run-all.ipynb', [
    'import numpy as np; a = np.arange(10)',
    '%%cluster local --in a --out b\nimport time; time.sleep(1); b = a * 2',
    'print("last", int(b[-1]))'
  ]);
  await openNotebook(page, notebook);
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('notebook:run-all-cells')
  );
  await waitForOutput(page, 2, /last 18|Error/, REMOTE);
  expect(await cellOutputText(page, 2)).toMatch(/^last 18$/m);
  expect(
    (await cellOutputs(page, 2)).filter(o => o.output_type === 'error')
  ).toEqual([]);
});
