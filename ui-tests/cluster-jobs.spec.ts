// a detached remote job outlives its notebook; reopening the
// notebook, the Remote Jobs panel shows its state and reattaches to it.
import { expect, Page, test } from '@playwright/test';
import {
  cellLocator,
  openNotebook,
  runCell,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';
import { statusPayload } from './cluster-helpers';

const REMOTE = 180_000;

function jobRow(page: Page, jobId: string) {
  return page.locator(
    `#jp-ClusterBridge-jobs .jp-ClusterBridge-job[data-job-id="${jobId}"]`
  );
}

test('a detached job survives closing its notebook and reattaches from the Remote Jobs panel', async ({
  page
}) => {
  writeNotebook('ui/cluster-jobs.ipynb', [
    [
      '%%cluster local --detach',
      'import time',
      'time.sleep(8)',
      'print("detached result", 6 * 7)'
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/cluster-jobs.ipynb');
  expect(await runCell(page, 0, REMOTE)).toBe(true);
  const { jobId } = await statusPayload(page, 0);
  expect(jobId).toBeTruthy();
  await waitForOutput(page, 0, `%cluster attach ${jobId}`);

  // Close the page and the notebook's kernel with it; the bridge keeps the job.
  await page.evaluate(async () => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    await w.sessionContext.shutdown();
  });
  await page.goto('about:blank');
  await openNotebook(page, 'ui/cluster-jobs.ipynb');

  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('cluster-bridge:show-jobs')
  );
  const row = jobRow(page, jobId);
  await expect(row).toBeVisible({ timeout: 60_000 });
  await expect(row).toContainText('local');
  await expect(row.locator('.jp-ClusterBridge-job-meta')).toContainText(
    'detached'
  );
  await saveScreenshot(page, 'cluster-jobs-panel');

  // Open: a new cell below runs `%cluster attach ID` and gets the outputs.
  await cellLocator(page, 0).click();
  await row
    .getByRole('button', { name: `Show the outputs of job ${jobId}` })
    .click();
  await expect(cellLocator(page, 1)).toContainText(`%cluster attach ${jobId}`);
  await waitForOutput(page, 1, 'detached result 42', REMOTE);
  await expect(row).toHaveAttribute('data-state', /completed|done/, {
    timeout: 60_000
  });
  await saveScreenshot(page, 'cluster-jobs-attached');
});
