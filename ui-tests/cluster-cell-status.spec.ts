// The live status of a remote cell is a badge under the cell, never one of
// its outputs: the saved notebook holds only what the code produced, and the
// cell's metadata names its job. Both where the notebook's kernel is Python
// (%%cluster cells go to the shared bridge session) and where it is the
// Cluster Bridge kernel itself (plain cells run on the default cluster).
import { expect, test } from '@playwright/test';
import { cellOutputs, openNotebook, writeNotebook } from './helpers';
import {
  startCell,
  statusLine,
  statusPayload,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;
const STATUS_MIME = 'application/vnd.cluster-bridge.status+json';

async function cellJobId(page: any, index: number): Promise<unknown> {
  return page.evaluate(
    (i: number) =>
      (window as any).jupyterapp.shell.currentWidget.content.widgets[
        i
      ].model.getMetadata('cluster_bridge')?.jobId,
    index
  );
}

for (const [label, kernel, code] of [
  ['a Python notebook', undefined, '%%cluster local\nprint("only this")'],
  [
    'a Cluster Bridge kernel notebook',
    { name: 'cluster-bridge', display_name: 'Cluster Bridge' },
    'print("only this")'
  ]
] as const) {
  test(`in ${label}, the status is a badge under the cell and the outputs are the code's`, async ({
    page
  }) => {
    const file = `ui/cell-status-${kernel ? 'bridge' : 'python'}.ipynb`;
    writeNotebook(file, [code], kernel);
    await openNotebook(page, file);
    await startCell(page, 0);
    await waitForCellDone(page, 0, REMOTE);

    const badge = statusLine(page, 0);
    await expect(badge).toHaveAttribute('data-phase', 'done', {
      timeout: 30_000
    });
    await expect(badge).toHaveClass(/jp-ClusterBridge-cellStatus/);
    await expect(badge).toContainText('local');

    const outputs = await cellOutputs(page, 0);
    expect(outputs.map(o => o.output_type)).toEqual(['stream']);
    expect(JSON.stringify(outputs)).not.toContain(STATUS_MIME);

    const payload = await statusPayload(page, 0);
    expect(payload.phase).toBe('done');
    expect(await cellJobId(page, 0)).toBe(payload.jobId);
  });
}
