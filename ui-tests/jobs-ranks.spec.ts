// The Remote Jobs panel's per-rank view in Chromium: a real 2-rank cell
// (`%%cluster local --tasks-per-node 2`, two local ranks), its row says
// "2 ranks on 1 node", the Ranks toggle shows rank 1's tagged lines while it
// runs (followed), then which rank failed once rank 1 raised. Rank output
// that looks like HTML stays text.
import { expect, Page, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  labRoot,
  openNotebook,
  saveScreenshot,
  writeNotebook
} from './helpers';
import { startCell, statusPayload, waitForCellDone } from './cluster-helpers';

const REMOTE = 180_000;

function jobRow(page: Page, jobId: string) {
  return page.locator(
    `#jp-ClusterBridge-jobs .jp-ClusterBridge-job[data-job-id="${jobId}"]`
  );
}

test('Remote Jobs: a 2-rank job has a Ranks toggle showing rank 1 tagged, followed to its failure', async ({
  page
}) => {
  const go = path.join(labRoot(), '..', `jobs-ranks-go-${Date.now()}`);
  writeNotebook('ui/jobs-ranks.ipynb', [
    [
      '%%cluster local --tasks-per-node 2',
      'import os, time',
      "rank = os.environ['RANK']",
      'print(\'rank %s says <img src=x onerror="window.__pwned=1">\' % rank, flush=True)',
      'deadline = time.time() + 150',
      `while not os.path.exists(${JSON.stringify(go)}) and time.time() < deadline:`,
      '    time.sleep(0.1)',
      "if rank == '1':",
      "    raise ValueError('rank one broke')",
      'time.sleep(30)'
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/jobs-ranks.ipynb');
  await startCell(page, 0);
  await expect
    .poll(async () => (await statusPayload(page, 0))?.jobId, {
      timeout: REMOTE
    })
    .toBeTruthy();
  const { jobId } = await statusPayload(page, 0);

  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('cluster-bridge:show-jobs')
  );
  const row = jobRow(page, jobId);
  await expect(row).toBeVisible({ timeout: 60_000 });
  await expect(row.locator('.jp-ClusterBridge-job-meta')).toContainText(
    '2 ranks on 1 node'
  );
  const toggle = row.getByRole('button', {
    name: `Show each rank's output of job ${jobId}`
  });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');

  // While it runs: rank 1's line, tagged, as text (followed until it shows).
  const view = row.locator('.jp-ClusterBridge-ranks');
  const rank1 = view.locator('.jp-ClusterBridge-rank[data-rank="1"]');
  await expect(rank1.locator('.jp-ClusterBridge-rank-line').first()).toHaveText(
    '[rank 1] rank 1 says <img src=x onerror="window.__pwned=1">',
    { timeout: REMOTE }
  );
  await expect(
    view
      .locator(
        '.jp-ClusterBridge-rank[data-rank="0"] .jp-ClusterBridge-rank-line'
      )
      .first()
  ).toHaveText('[rank 0] rank 0 says <img src=x onerror="window.__pwned=1">');
  await expect(rank1).toHaveAttribute('data-state', 'running');
  await expect(view.locator('img')).toHaveCount(0);
  await saveScreenshot(page, 'jobs-ranks-running');

  // Rank 1 raises: the view follows to the end and names it.
  fs.writeFileSync(go, '');
  await waitForCellDone(page, 0, REMOTE);
  await expect(rank1).toHaveClass(/jp-mod-failed/, { timeout: 60_000 });
  await expect(rank1.locator('summary')).toHaveText(
    /^rank 1 · \S+ · failed \(its error ended the job\)$/
  );
  await expect(view.locator('.jp-ClusterBridge-ranks-status')).toContainText(
    'rank 1 failed'
  );
  await expect(rank1).toContainText('[rank 1] ValueError: rank one broke');
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  await saveScreenshot(page, 'jobs-ranks-failed');

  // The toggle closes the view.
  await toggle.click();
  await expect(row.locator('.jp-ClusterBridge-ranks')).toHaveCount(0);
  fs.rmSync(go, { force: true });
});
