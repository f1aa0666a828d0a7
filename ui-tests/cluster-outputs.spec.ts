// what a %%cluster cell shows in the notebook, through the real
// bridge kernel and the built-in `local` cluster: text and a figure, a
// traceback on error, and a status line that moves through its phases.
// Screenshots of each end state: ui-tests/artifacts/cluster-*.png.
import { expect, test } from '@playwright/test';
import {
  cellLocator,
  cellOutputs,
  cellOutputText,
  kernelName,
  openNotebook,
  runCell,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';
import {
  cellState,
  recordedPhases,
  recordPhases,
  startCell,
  statusLine,
  statusPayload,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;

test('a %%cluster local cell that prints and plots shows the text and the image', async ({
  page
}) => {
  writeNotebook('ui/cluster-outputs.ipynb', [
    [
      '%%cluster local',
      'import matplotlib.pyplot as plt',
      'print("hello from", "the cluster")',
      'plt.plot([1, 2, 3], [1, 4, 9])',
      'plt.title("remote plot")',
      'plt.show()',
      '6 * 7'
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/cluster-outputs.ipynb');
  expect(await runCell(page, 0, REMOTE), await cellOutputText(page, 0)).toBe(
    true
  );

  await waitForOutput(page, 0, 'hello from the cluster');
  const image = cellLocator(page, 0).locator('.jp-OutputArea-output img');
  await expect(image).toBeVisible();
  expect(
    await image.evaluate(img => (img as HTMLImageElement).naturalWidth)
  ).toBeGreaterThan(100);
  await waitForOutput(page, 0, /\b42\b/);
  const outputs = await cellOutputs(page, 0);
  expect(outputs.some(o => o.data?.['image/png'])).toBe(true);

  // The notebook's own kernel was never changed; the cell has its remote count.
  expect(await kernelName(page)).toBe('python3');
  const { count } = await cellState(page, 0);
  expect(count).toBeGreaterThan(0);
  await expect(cellLocator(page, 0).locator('.jp-InputPrompt')).toHaveText(
    /\[r\d+\]/
  );

  await expect(statusLine(page, 0)).toHaveAttribute('data-phase', 'done');
  await expect(statusLine(page, 0)).toHaveClass(/jp-mod-terminal/);
  await expect(statusLine(page, 0)).toContainText('Done on local');
  await saveScreenshot(page, 'cluster-print-plot');
});

test('an error in a remote cell shows a traceback with the cell line', async ({
  page
}) => {
  writeNotebook('ui/cluster-error.ipynb', [
    ['%%cluster local', 'x = 1', 'def f():', '    return x / 0', 'f()'].join(
      '\n'
    )
  ]);
  await openNotebook(page, 'ui/cluster-error.ipynb');
  expect(await runCell(page, 0, REMOTE)).toBe(false);

  const error = cellLocator(page, 0).locator(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
  );
  await expect(error.first()).toContainText('ZeroDivisionError');
  const outputs = await cellOutputs(page, 0);
  const err = outputs.find(o => o.output_type === 'error');
  expect(err?.ename).toBe('ZeroDivisionError');
  const traceback = (err?.traceback ?? [])
    .join('\n')
    .replace(/\x1b\[[0-9;]*m/g, '');
  // The failing line is line 4 of the cell (the magic line is line 1).
  expect(traceback).toMatch(/return x \/ 0/);
  expect(traceback).toMatch(/line 4|----> 4|4\s+return/);
  await expect(statusLine(page, 0)).toHaveAttribute(
    'data-phase',
    /failed|done/
  );
  await saveScreenshot(page, 'cluster-error');
});

test('the status line moves through its phases and settles on one line', async ({
  page
}) => {
  writeNotebook('ui/cluster-phases.ipynb', [
    [
      '%%cluster local',
      'import time',
      'print("working", flush=True)',
      'time.sleep(4)',
      'print("finished")'
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/cluster-phases.ipynb');
  await recordPhases(page);
  await startCell(page, 0);

  const status = statusLine(page, 0);
  await expect(status).toHaveAttribute('data-phase', 'running', {
    timeout: REMOTE
  });
  await expect(status).toHaveAttribute('aria-live', 'polite');
  const elapsed = status.locator('.jp-ClusterBridge-status-elapsed');
  const first = await elapsed.textContent();
  await expect(elapsed).not.toHaveText(first ?? '', { timeout: 5000 });
  await expect(status).toContainText('Running on local');
  await saveScreenshot(page, 'cluster-phases-running');

  await waitForCellDone(page, 0, REMOTE);
  await expect(status).toHaveAttribute('data-phase', 'done');
  await expect(status).toHaveAttribute('aria-live', 'off');
  await waitForOutput(page, 0, 'finished');

  const phases = await recordedPhases(page);
  const order = [
    'connecting',
    'uploading',
    'preparing',
    'submitted',
    'queued',
    'starting',
    'running',
    'done'
  ];
  expect(phases[0]).not.toBe('running');
  expect(phases).toContain('running');
  expect(phases[phases.length - 1]).toBe('done');
  const ranks = phases.map(p => order.indexOf(p));
  expect(ranks.every(r => r >= 0)).toBe(true);
  expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);

  // One compact line: phase, elapsed time, job id, all in a single row.
  const payload = await statusPayload(page, 0);
  await expect(status).toContainText(`job ${payload.jobId}`);
  const box = await status.boundingBox();
  expect(box!.height).toBeLessThan(40);
  test
    .info()
    .annotations.push({ type: 'phases', description: phases.join(' > ') });
  await saveScreenshot(page, 'cluster-phases-done');
});
