// interrupt (the toolbar's stop button) cancels a sleeping remote
// cell, and a local cell runs and finishes while a remote cell sleeps.
import { expect, test } from '@playwright/test';
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
import {
  cellState,
  startCell,
  statusLine,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;
const SLEEPER = [
  '%%cluster local',
  'import time',
  'print("remote started", flush=True)',
  'time.sleep(300)',
  'print("remote never ends")'
].join('\n');

test('interrupt cancels a sleeping remote cell', async ({ page }) => {
  writeNotebook('ui/cluster-interrupt.ipynb', [SLEEPER]);
  await openNotebook(page, 'ui/cluster-interrupt.ipynb');
  await startCell(page, 0);
  await waitForOutput(page, 0, 'remote started', REMOTE);
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'running');

  const started = Date.now();
  await notebookToolbar(page)
    .locator('[data-command="notebook:interrupt-kernel"]')
    .click();
  await waitForCellDone(page, 0, 60_000);
  const seconds = (Date.now() - started) / 1000;

  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'cancelled');
  await expect(statusLine(page, 0)).toContainText('Cancelled');
  // The sleep was interrupted where it was: KeyboardInterrupt at line 4, and
  // the line after it never printed.
  const outputs = await cellOutputs(page, 0);
  const stdout = outputs
    .filter(o => o.output_type === 'stream')
    .map(o => [o.text ?? ''].flat().join(''))
    .join('');
  expect(stdout).toContain('remote started');
  expect(stdout).not.toContain('remote never ends');
  const error = outputs.find(o => o.output_type === 'error');
  expect(error?.ename).toBe('KeyboardInterrupt');
  expect(await cellOutputText(page, 0)).toMatch(/---> 4 time\.sleep/);
  test.info().annotations.push({
    type: 'interrupt-to-idle',
    description: `${seconds.toFixed(1)} s`
  });
  await saveScreenshot(page, 'cluster-interrupt');
});

test('a local cell runs and finishes while a remote cell sleeps', async ({
  page
}) => {
  writeNotebook('ui/cluster-concurrent.ipynb', [
    SLEEPER,
    'print("local says", 6 * 7)'
  ]);
  await openNotebook(page, 'ui/cluster-concurrent.ipynb');
  await startCell(page, 0);
  await waitForOutput(page, 0, 'remote started', REMOTE);

  expect(await runCell(page, 1, 60_000)).toBe(true);
  await waitForOutput(page, 1, 'local says 42');
  // The remote cell is still running.
  expect((await cellState(page, 0)).state).toBe('running');
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'running');
  await saveScreenshot(page, 'cluster-local-while-remote');

  // Clean up through the same interrupt path.
  await page.keyboard.press('Escape');
  await notebookToolbar(page)
    .locator('[data-command="notebook:interrupt-kernel"]')
    .click();
  await waitForCellDone(page, 0, 60_000);
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'cancelled');
});
