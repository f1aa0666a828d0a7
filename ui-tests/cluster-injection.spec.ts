// A notebook's metadata never runs code: the notebook, whose picked
// cluster is `local\nprint('INJECTED')`, with a bare `%%cluster` cell. The
// cell must say that the value is not a cluster name and run nothing; once
// the notebook picks a real cluster the same cell runs, showing only itself.
import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  cellOutputs,
  cellOutputText,
  labRoot,
  openNotebook,
  runCell,
  saveScreenshot,
  shutdownKernels,
  waitForOutput
} from './helpers';
import { putSettings } from './cluster-helpers';

const REMOTE = 180_000;
const INJECTED = "local\nprint('INJECTED')";

test.afterEach(async () => {
  await shutdownKernels();
});

/** The notebook: its picked cluster holds code, its cell is a bare %%cluster. */
function writeInjectedNotebook(
  relPath: string,
  source: string,
  kernel = { name: 'python3', display_name: 'Python 3 (ipykernel)' }
): void {
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { language: 'python', ...kernel },
      language_info: { name: 'python' },
      cluster_bridge: { cluster: INJECTED }
    },
    cells: [
      {
        id: 'cell-0',
        cell_type: 'code',
        metadata: {},
        source,
        execution_count: null,
        outputs: []
      }
    ]
  };
  const file = path.join(labRoot(), relPath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(notebook, null, 1));
}

/** Text the cell's stream outputs printed (what code it ran would print). */
async function printed(
  page: import('@playwright/test').Page,
  index: number
): Promise<string> {
  const outputs = await cellOutputs(page, index);
  return outputs
    .filter(o => o.output_type === 'stream')
    .map(o => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
    .join('');
}

test('a picked cluster holding code runs nothing and says why', async ({
  page
}) => {
  writeInjectedNotebook(
    'ui/cluster-injection.ipynb',
    '%%cluster\nprint("the cell itself")'
  );
  await openNotebook(page, 'ui/cluster-injection.ipynb');

  expect(await runCell(page, 0, REMOTE)).toBe(false);
  const outputs = await cellOutputs(page, 0);
  expect(await printed(page, 0)).toBe('');
  expect(outputs).toHaveLength(1);
  expect(outputs[0]).toMatchObject({
    output_type: 'error',
    ename: 'ClusterBridgeError'
  });
  expect(outputs[0].evalue).toMatch(
    /"cluster_bridge\.cluster" does not hold a cluster name \(invalid cluster name .*\)\. Nothing was run\./
  );
  await saveScreenshot(page, 'cluster-injection-refused');

  // Picking a real cluster mends it: the cell runs, and only the cell.
  await page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.content.model.setMetadata(
      'cluster_bridge',
      { cluster: 'local' }
    )
  );
  expect(await runCell(page, 0, REMOTE), await cellOutputText(page, 0)).toBe(
    true
  );
  await waitForOutput(page, 0, 'the cell itself');
  expect(await printed(page, 0)).not.toContain('INJECTED');
});

test('a bare %%cluster runs on the picked cluster, its text unchanged', async ({
  page
}) => {
  await putSettings(page, { clusters: { local2: { type: 'local' } } });
  writeInjectedNotebook(
    'ui/cluster-injection-picked.ipynb',
    '%%cluster\nimport os\nprint("job", os.environ["CLUSTER_BRIDGE_JOB_ID"])'
  );
  await openNotebook(page, 'ui/cluster-injection-picked.ipynb');
  await page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.content.model.setMetadata(
      'cluster_bridge',
      { cluster: 'local2' }
    )
  );
  expect(await runCell(page, 0, REMOTE), await cellOutputText(page, 0)).toBe(
    true
  );
  const job = /job (\S+)/.exec(await printed(page, 0))?.[1];
  expect(job).toBeTruthy();
  // The bridge's own record of the job says where it ran.
  const cluster = await page.evaluate(async id => {
    const plugins: Map<string, any> = (window as any).jupyterapp.pluginRegistry
      ._plugins;
    const bridge = plugins.get('jupyterlab-cluster-bridge:bridge')!.service;
    const jobs = await bridge.refreshJobs();
    return jobs.find((j: any) => j.id === id)?.cluster;
  }, job);
  expect(cluster).toBe('local2');
  const source = await page.evaluate(() =>
    (
      window as any
    ).jupyterapp.shell.currentWidget.content.widgets[0].model.sharedModel.getSource()
  );
  expect(source.startsWith('%%cluster\n')).toBe(true);
  await putSettings(page, {});
});

test('in a Cluster Bridge notebook a picked cluster holding code runs no cell', async ({
  page
}) => {
  writeInjectedNotebook('ui/cluster-injection-bridge.ipynb', 'print(6 * 7)', {
    name: 'cluster-bridge',
    display_name: 'Cluster Bridge'
  });
  await openNotebook(page, 'ui/cluster-injection-bridge.ipynb');

  expect(await runCell(page, 0, REMOTE)).toBe(false);
  expect(await printed(page, 0)).toBe('');
  const outputs = await cellOutputs(page, 0);
  expect(outputs).toHaveLength(1);
  expect(outputs[0].evalue).toMatch(/Nothing was run/);
});
