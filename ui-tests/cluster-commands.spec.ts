// the palette commands and the keyboard shortcut (Accel Alt Enter:
// run the active cell on the picked cluster).
import { expect, test } from '@playwright/test';
import {
  cellLocator,
  openNotebook,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';
import {
  startCell,
  statusLine,
  statusPayload,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;

const run = (
  page: import('@playwright/test').Page,
  id: string,
  args: object = {}
) =>
  page.evaluate(([c, a]) => (window as any).jupyterapp.commands.execute(c, a), [
    id,
    args
  ] as const);

test('the palette lists the Cluster Bridge commands', async ({ page }) => {
  writeNotebook('ui/cluster-palette.ipynb', ['1']);
  await openNotebook(page, 'ui/cluster-palette.ipynb');
  const input = page.locator('.lm-CommandPalette-input');
  // On a cold start the notebook can take focus after the palette opened,
  // which closes the (modal) palette again: open it until it stays.
  await expect(async () => {
    await run(page, 'apputils:activate-command-palette');
    await expect(input).toBeVisible({ timeout: 2000 });
  }).toPass({ timeout: 30_000 });
  await input.fill('Cluster Bridge');
  const palette = page.locator('#command-palette');
  for (const label of [
    'Run Cell on Cluster…',
    'Run Cell on the Picked Cluster',
    'Cancel Remote Job…',
    'Show Remote Jobs',
    'Test Cluster Connection…'
  ]) {
    await expect(
      palette.locator('.lm-CommandPalette-item', { hasText: label })
    ).toHaveCount(1);
  }
  await saveScreenshot(page, 'cluster-palette');
  await page.keyboard.press('Escape');
});

test('Accel Alt Enter runs the active cell on the picked cluster', async ({
  page
}) => {
  writeNotebook('ui/cluster-shortcut.ipynb', ['print("via shortcut", 6 * 7)']);
  await openNotebook(page, 'ui/cluster-shortcut.ipynb');
  await cellLocator(page, 0).locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Control+Alt+Enter');
  await expect(
    cellLocator(page, 0).locator('.jp-InputArea-editor')
  ).toContainText('%%cluster');
  await waitForOutput(page, 0, 'via shortcut 42', REMOTE);
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'done');
  expect((await statusPayload(page, 0)).cluster).toBe('local');
  await saveScreenshot(page, 'cluster-shortcut');
});

test('"Test Cluster Connection" reports a checklist for local', async ({
  page
}) => {
  writeNotebook('ui/cluster-test.ipynb', ['1']);
  await openNotebook(page, 'ui/cluster-test.ipynb');
  void run(page, 'cluster-bridge:test-cluster', { cluster: 'local' });
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('local:', { timeout: REMOTE });
  await expect(dialog.locator('.jp-ClusterBridge-doctor')).toContainText('✓');
  // The checklist replaced the progress toast.
  await expect(page.getByText('Testing local…')).toHaveCount(0);
  await saveScreenshot(page, 'cluster-test-connection');
  await dialog.getByRole('button', { name: /ok/i }).click();
});

test('"Cancel Remote Job" cancels the running job of the active cell', async ({
  page
}) => {
  writeNotebook('ui/cluster-cancel.ipynb', [
    '%%cluster local\nimport time\nprint("started", flush=True)\ntime.sleep(300)'
  ]);
  await openNotebook(page, 'ui/cluster-cancel.ipynb');
  await startCell(page, 0);
  await waitForOutput(page, 0, 'started', REMOTE);
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'running');
  await run(page, 'cluster-bridge:cancel-job');
  await waitForCellDone(page, 0, 60_000);
  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'cancelled');
  await saveScreenshot(page, 'cluster-cancel-command');
});
