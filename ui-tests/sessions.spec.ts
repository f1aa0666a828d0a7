// Sessions in the browser: two %%cluster cells of a Python-kernel notebook
// share one remote namespace on `local`; the Remote Jobs panel shows the
// session and restarts it (the variable is gone after); the picker marks the
// live session; shutting the notebook's kernel down or restarting it ends its
// session.
import { expect, Page, test } from '@playwright/test';
import * as path from 'path';
import {
  cellOutputs,
  labRoot,
  notebookToolbar,
  openNotebook,
  runCell,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';
import { pickerSelect } from './cluster-helpers';

const REMOTE = 180_000;

/**
 * The live session rows of one notebook in the Remote Jobs panel. Sessions go
 * by the notebook's path on the server's disk: the same relative path under
 * another server (an earlier run) is another notebook.
 */
function liveSessionRows(page: Page, notebook: string) {
  const key = path.join(labRoot(), notebook);
  return page.locator(
    `#jp-ClusterBridge-jobs .jp-ClusterBridge-session:not([data-state="ended"]):has(.jp-ClusterBridge-session-notebook[title="${key}"])`
  );
}

// Leave no session behind: shutting the notebook's kernel down stops them.
test.afterEach(async ({ page }) => {
  await page
    .evaluate(async () => {
      const w = (window as any).jupyterapp?.shell.currentWidget;
      await w?.sessionContext?.shutdown();
    })
    .catch(() => undefined);
});

async function showJobsPanel(page: Page): Promise<void> {
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('cluster-bridge:show-jobs')
  );
}

test('two %%cluster cells share a variable; the jobs panel shows the session and restarts it', async ({
  page
}) => {
  const notebook = writeNotebook('ui/sessions.ipynb', [
    '%%cluster local\nx = 41',
    '%%cluster local\nprint(x + 1)',
    '%%cluster local\nprint(x)'
  ]);
  await openNotebook(page, notebook);

  expect(await runCell(page, 0, REMOTE)).toBe(true);
  expect(await runCell(page, 1, REMOTE)).toBe(true);
  await waitForOutput(page, 1, /^42$/m);

  // The picker marks the live session of this notebook on the picked cluster.
  await pickerSelect(page).selectOption('local');
  const mark = notebookToolbar(page).locator(
    '.jp-ClusterBridge-picker-session'
  );
  await expect(mark).toBeVisible({ timeout: 60_000 });
  await expect(mark).toHaveAttribute('title', /^Session on local/);

  await showJobsPanel(page);
  const row = liveSessionRows(page, notebook);
  await expect(row).toHaveCount(1, { timeout: 60_000 });
  await expect(row.locator('.jp-ClusterBridge-job-cluster')).toHaveText(
    'local'
  );
  await expect(row.locator('.jp-ClusterBridge-session-notebook')).toHaveText(
    'sessions.ipynb'
  );
  await expect(row).toHaveAttribute('data-state', /idle|busy/);
  await expect(row.locator('.jp-ClusterBridge-session-started')).toContainText(
    'started'
  );
  await saveScreenshot(page, 'sessions-jobs-panel');

  const before = {
    id: await row.getAttribute('data-session-id'),
    started: await row
      .locator('.jp-ClusterBridge-session-started')
      .textContent()
  };
  await row
    .getByRole('button', {
      name: 'Restart the session on local for sessions.ipynb (its variables are lost)'
    })
    .click();
  // Restarted: the old process is no longer this notebook's live session.
  await expect
    .poll(
      async () => {
        const rows = liveSessionRows(page, notebook);
        if ((await rows.count()) === 0) {
          return 'gone';
        }
        const first = rows.first();
        const id = await first.getAttribute('data-session-id');
        const started = await first
          .locator('.jp-ClusterBridge-session-started')
          .textContent();
        const enabled = await first
          .getByRole('button', { name: /^Restart / })
          .isEnabled();
        return enabled && (id !== before.id || started !== before.started)
          ? 'new'
          : 'old';
      },
      { timeout: 60_000 }
    )
    .not.toBe('old');

  // A fresh namespace: x is gone.
  expect(await runCell(page, 2, REMOTE)).toBe(false);
  const outputs = await cellOutputs(page, 2);
  const error = outputs.find(o => o.output_type === 'error');
  expect(error?.ename).toBe('NameError');
  expect(error?.evalue).toContain("'x'");
});

test("shutting the notebook's kernel down ends its session", async ({
  page
}) => {
  const notebook = writeNotebook('ui/sessions-shutdown.ipynb', [
    '%%cluster local\ny = 1'
  ]);
  await openNotebook(page, notebook);
  expect(await runCell(page, 0, REMOTE)).toBe(true);

  await showJobsPanel(page);
  await expect(liveSessionRows(page, notebook)).toHaveCount(1, {
    timeout: 60_000
  });

  await page.evaluate(async () => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    await w.sessionContext.shutdown();
  });
  await expect(liveSessionRows(page, notebook)).toHaveCount(0, {
    timeout: 60_000
  });
});

test("restarting the notebook's kernel ends its session too; the next cell starts afresh", async ({
  page
}) => {
  const notebook = writeNotebook('ui/sessions-restart.ipynb', [
    '%%cluster local\nz = 5',
    '%%cluster local\nprint(z)'
  ]);
  await openNotebook(page, notebook);
  expect(await runCell(page, 0, REMOTE)).toBe(true);

  await showJobsPanel(page);
  await expect(liveSessionRows(page, notebook)).toHaveCount(1, {
    timeout: 60_000
  });

  await page.evaluate(async () => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    await w.sessionContext.restartKernel();
  });
  await expect(liveSessionRows(page, notebook)).toHaveCount(0, {
    timeout: 60_000
  });
  expect(await runCell(page, 1, REMOTE)).toBe(false);
  const error = (await cellOutputs(page, 1)).find(
    o => o.output_type === 'error'
  );
  expect(error?.ename).toBe('NameError');
});
