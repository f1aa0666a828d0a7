// The summary of an array job (ARRAY_MIME) in Chromium. The payload is
// produced for real by a `%%cluster local` cell (display(..., raw=True) in the
// remote runner, forwarded by the bridge); the test reads the table, opens a
// row, and uses a failed row's Re-run button, which must put the element's
// `%cluster rerun` line in a new cell below and run that cell.
import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  cellLocator,
  cellOutputs,
  openNotebook,
  runCell,
  saveScreenshot,
  writeNotebook
} from './helpers';
import {
  cellState,
  putSettings,
  removeSshdWorkDir,
  slurmCluster,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;
const RERUN = '%cluster rerun 20261205-array {index}';

/** `--array s=0-2`: element 1 failed, the others are done. */
const PAYLOAD = {
  jobId: '20261205-array',
  cluster: 'local',
  name: 's',
  maxParallel: 2,
  rerun: RERUN,
  elements: [
    {
      index: 0,
      value: 0,
      state: 'done',
      seconds: 3,
      last: '0.25',
      outputs: [
        { type: 'stream', name: 'stdout', text: 'seed 0: loss 0.25\n' },
        { type: 'display', data: { 'text/plain': '0.25' } }
      ]
    },
    {
      index: 1,
      value: 1,
      state: 'error',
      seconds: 1,
      error: 'ZeroDivisionError: division by zero',
      outputs: [
        {
          type: 'error',
          ename: 'ZeroDivisionError',
          evalue: 'division by zero',
          traceback: [
            '\u001b[0;31mZeroDivisionError\u001b[0m  Traceback (most recent call last)',
            '\u001b[0;31mZeroDivisionError\u001b[0m: division by zero'
          ]
        }
      ]
    },
    {
      index: 2,
      value: 2,
      state: 'done',
      seconds: 2,
      last: '0.5',
      outputs: [{ type: 'stream', name: 'stdout', text: 'seed 2: loss 0.5\n' }]
    }
  ]
};

test('array summary: the table, a row expanding, Re-run inserting its command below', async ({
  page
}) => {
  writeNotebook('ui/cluster-array.ipynb', [
    [
      '%%cluster local',
      'import json',
      `payload = json.loads(r'''${JSON.stringify(PAYLOAD)}''')`,
      "display({'application/vnd.cluster-bridge.array+json': payload, 'text/plain': 's: 3 elements (plain)'}, raw=True)"
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/cluster-array.ipynb');
  expect(await runCell(page, 0, REMOTE)).toBe(true);

  const summary = cellLocator(page, 0).locator('.jp-ClusterBridge-Array');
  const row = (index: number) =>
    summary.locator(`.jp-ClusterBridge-Array-row[data-index="${index}"]`);
  const detail = (index: number) =>
    summary.locator(`.jp-ClusterBridge-Array-detail[data-index="${index}"]`);

  await expect(summary.locator('caption')).toHaveText(
    's: 3 elements · 2 done · 1 failed · at most 2 at once'
  );
  await expect(summary.locator('thead th')).toHaveText([
    '',
    'index',
    's',
    'state',
    'time',
    'last',
    'error',
    ''
  ]);
  await expect(summary.locator('.jp-ClusterBridge-Array-row')).toHaveCount(3);
  await expect(row(0).locator('td')).toHaveText([
    '▸',
    '0',
    '0',
    'done',
    '3.0 s',
    '0.25',
    '',
    ''
  ]);
  await expect(row(1)).toHaveClass(/jp-mod-failed/);
  await expect(row(0)).not.toHaveClass(/jp-mod-failed/);
  await expect(row(1).locator('.jp-ClusterBridge-Array-error')).toHaveText(
    'ZeroDivisionError: division by zero'
  );
  await expect(summary.locator('.jp-ClusterBridge-Array-rerun')).toHaveCount(1);

  // A click on a row shows that element's outputs; a second one folds it.
  await row(0).locator('.jp-ClusterBridge-Array-value').click();
  await expect(
    row(0).locator('.jp-ClusterBridge-Array-expand')
  ).toHaveAttribute('aria-expanded', 'true');
  await expect(detail(0)).toContainText('seed 0: loss 0.25');
  await row(0).locator('.jp-ClusterBridge-Array-value').click();
  await expect(detail(0)).toHaveCount(0);

  // From the keyboard: the failed row's traceback and its re-run command.
  await row(1).locator('.jp-ClusterBridge-Array-expand').focus();
  await page.keyboard.press('Enter');
  await expect(
    detail(1).locator('.jp-ClusterBridge-Array-command code')
  ).toHaveText('%cluster rerun 20261205-array 1');
  await expect(detail(1).locator('.ansi-red-fg').first()).toHaveText(
    'ZeroDivisionError'
  );
  await saveScreenshot(page, 'cluster-array-summary');

  // Re-run: a new code cell below, with exactly that line, which runs.
  await row(1).locator('.jp-ClusterBridge-Array-rerun').click();
  await expect(
    page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')
  ).toHaveCount(2);
  const source = await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    return {
      text: nb.widgets[1].model.sharedModel.getSource(),
      type: nb.widgets[1].model.type
    };
  });
  expect(source).toEqual({
    text: '%cluster rerun 20261205-array 1',
    type: 'code'
  });
  await expect(summary.locator('.jp-ClusterBridge-Array-note')).toHaveText(
    'Inserted `%cluster rerun 20261205-array 1` below and started it'
  );
  await waitForCellDone(page, 1, REMOTE);
  expect((await cellState(page, 1)).count).not.toBeNull();
  await saveScreenshot(page, 'cluster-array-rerun');
});

test('a real --array s=0-2 cell on SLURM: element 1 fails, its Re-run runs it alone and it passes', async ({
  page
}) => {
  const workDir = `~/.cb-ui-array-${process.pid}`;
  // Element 1 fails while this file exists; the test removes it before Re-run.
  const flag = path.join(os.tmpdir(), `cb-ui-array-flag-${process.pid}`);
  fs.writeFileSync(flag, '');
  fs.chmodSync(flag, 0o644);
  await putSettings(page, { clusters: { 'ui-slurm': slurmCluster(workDir) } });
  try {
    writeNotebook('ui/cluster-array-slurm.ipynb', [
      [
        '%%cluster ui-slurm --array s=0-2',
        'import os',
        `if s == 1 and os.path.exists(${JSON.stringify(flag)}):`,
        "    raise ValueError('element %d fails' % s)",
        "print('seed', s)",
        's * 10'
      ].join('\n')
    ]);
    await openNotebook(page, 'ui/cluster-array-slurm.ipynb');
    await runCell(page, 0, REMOTE);
    await waitForCellDone(page, 0, REMOTE);

    const summary = cellLocator(page, 0).locator('.jp-ClusterBridge-Array');
    const row = (index: number) =>
      summary.locator(`.jp-ClusterBridge-Array-row[data-index="${index}"]`);
    // The cell is over: on a mismatch, say what it showed.
    await expect(
      summary.locator('caption'),
      JSON.stringify(await cellOutputs(page, 0))
    ).toHaveText('s: 3 elements · 2 done · 1 failed');
    await expect(row(1)).toHaveClass(/jp-mod-failed/);
    await expect(row(1).locator('.jp-ClusterBridge-Array-error')).toHaveText(
      'ValueError: element 1 fails'
    );
    await expect(row(2).locator('.jp-ClusterBridge-Array-last')).toHaveText(
      '20'
    );
    await row(2).click();
    await expect(
      summary.locator('.jp-ClusterBridge-Array-detail[data-index="2"]')
    ).toContainText('seed 2');

    fs.rmSync(flag);
    await row(1).locator('.jp-ClusterBridge-Array-rerun').click();
    await expect(
      page.locator(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'
      )
    ).toHaveCount(2);
    await waitForCellDone(page, 1, REMOTE);
    const rerun = cellLocator(page, 1).locator('.jp-ClusterBridge-Array');
    await expect(
      rerun.locator('.jp-ClusterBridge-Array-row[data-index="1"]'),
      JSON.stringify(await cellOutputs(page, 1))
    ).toHaveAttribute('data-state', 'done');
    await expect(
      rerun.locator(
        '.jp-ClusterBridge-Array-row[data-index="1"] .jp-ClusterBridge-Array-last'
      )
    ).toHaveText('10');
    await saveScreenshot(page, 'cluster-array-slurm-rerun');
  } finally {
    fs.rmSync(flag, { force: true });
    await putSettings(page, {});
    removeSshdWorkDir(workDir);
  }
});
