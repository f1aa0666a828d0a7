// Prompt numbers in a Python notebook with %%cluster cells: local cells keep
// the notebook kernel's [1], [2]; remote cells count on their own as [r1],
// [r2], so no two prompts read the same. The saved file keeps plain integer
// execution counts, and the `r` comes back after a reload.
import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  appendCell,
  cellLocator,
  cellOutputText,
  labRoot,
  openNotebook,
  runCell,
  saveScreenshot,
  shutdownKernels,
  waitForOutput,
  writeNotebook
} from './helpers';

const REMOTE = 180_000;
const NOTEBOOK = 'ui/cluster-prompt.ipynb';

test.afterEach(async () => {
  await shutdownKernels();
});

function prompt(page: import('@playwright/test').Page, index: number) {
  return cellLocator(page, index).locator('.jp-InputPrompt');
}

test('remote cells count [r1], [r2] apart from local cells', async ({
  page
}) => {
  writeNotebook(NOTEBOOK, [
    'x = 1',
    '%%cluster local\nprint("remote one")',
    'y = 2',
    '%%cluster local\nprint("remote two")\n6 * 7'
  ]);
  await openNotebook(page, NOTEBOOK);
  for (let i = 0; i < 4; i++) {
    expect(await runCell(page, i, REMOTE), await cellOutputText(page, i)).toBe(
      true
    );
  }
  await expect(prompt(page, 0)).toHaveText('[1]:');
  await expect(prompt(page, 1)).toHaveText('[r1]:');
  await expect(prompt(page, 2)).toHaveText('[2]:');
  await expect(prompt(page, 3)).toHaveText('[r2]:');
  await expect(prompt(page, 1)).toHaveAttribute('title', /Cluster Bridge/);
  // The result's Out prompt is the cell's own number too, not the bridge kernel's.
  await expect(
    cellLocator(page, 3)
      .locator('.jp-OutputArea-prompt')
      .filter({ hasText: /\S/ })
  ).toHaveText(['[r2]:']);

  // Run a remote cell again: the next remote number, never a local one's.
  expect(await runCell(page, 1, REMOTE)).toBe(true);
  await expect(prompt(page, 1)).toHaveText('[r3]:');
  await saveScreenshot(page, 'cluster-prompt-numbers');

  // A remote traceback names the cell as its prompt does.
  const failing = await appendCell(page, '%%cluster local\n\n1 / 0');
  expect(await runCell(page, failing, REMOTE)).toBe(false);
  await expect(prompt(page, failing)).toHaveText('[r4]:');
  await waitForOutput(page, failing, /Cell In\[4\], line 3/);
  await page.evaluate(i => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    nb.model.sharedModel.deleteCell(i);
  }, failing);

  // Saved: plain integers (valid nbformat).
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('docmanager:save')
  );
  await expect
    .poll(() => {
      const saved = JSON.parse(
        fs.readFileSync(path.join(labRoot(), NOTEBOOK), 'utf8')
      );
      return saved.cells.map((c: any) => [
        c.execution_count,
        ...c.outputs
          .filter((o: any) => o.output_type === 'execute_result')
          .map((o: any) => o.execution_count)
      ]);
    })
    .toEqual([[1], [3], [2], [2, 2]]);

  // Reopened: the prompts read the same.
  await openNotebook(page, NOTEBOOK);
  await expect(prompt(page, 0)).toHaveText('[1]:');
  await expect(prompt(page, 1)).toHaveText('[r3]:');
  await expect(prompt(page, 3)).toHaveText('[r2]:');
  await expect(
    cellLocator(page, 3)
      .locator('.jp-OutputArea-prompt')
      .filter({ hasText: /\S/ })
  ).toHaveText(['[r2]:']);
});
