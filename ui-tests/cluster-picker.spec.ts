// the notebook toolbar's cluster picker chooses what a bare
// `%%cluster` runs on, and the Cluster Bridge settings reach the bridge
// kernel live. A second cluster `local2` (type local) comes from the settings.
import { expect, test } from '@playwright/test';
import {
  cellLocator,
  kernelName,
  notebookToolbar,
  openNotebook,
  runCell,
  saveScreenshot,
  writeNotebook
} from './helpers';
import {
  pickerSelect,
  putSettings,
  setSettingLive,
  statusLine,
  statusPayload
} from './cluster-helpers';

const REMOTE = 180_000;

test.afterEach(async ({ page }) => {
  await putSettings(page, {});
});

test('the picker changes the cluster a bare %%cluster runs on', async ({
  page
}) => {
  await putSettings(page, {
    clusters: { local2: { type: 'local', description: 'second local' } }
  });
  writeNotebook('ui/cluster-picker.ipynb', [
    '%%cluster\nimport os\nprint("pid", os.getpid())'
  ]);
  await openNotebook(page, 'ui/cluster-picker.ipynb');

  const picker = notebookToolbar(page).locator('.jp-ClusterBridge-picker');
  await expect(picker).toBeVisible();
  const select = pickerSelect(page);
  // Accessible: a label bound to the select, and a name saying what it does.
  await expect(
    page.getByRole('combobox', {
      name: /^Cluster for %%cluster cells: default/
    })
  ).toHaveCount(1);
  const labelled = await select.evaluate(
    el => (el as HTMLSelectElement).labels?.[0]?.textContent ?? ''
  );
  expect(labelled).toBe('Cluster');

  // Keyboard: focus starts the bridge; the list gets the clusters with marks.
  await select.focus();
  await expect(select.locator('option[value="local2"]')).toHaveCount(1, {
    timeout: 60_000
  });
  await expect(select.locator('option[value="local"]')).toHaveAttribute(
    'aria-label',
    /^local, /
  );
  await expect(select.locator('option[value="local2"]')).toHaveText(
    /^[●○◐⊘] local2$/
  );

  await select.selectOption('local2');
  await expect(select).toHaveAttribute('aria-label', /: local2/);
  const metadata = await page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.content.model.getMetadata(
      'cluster_bridge'
    )
  );
  expect(metadata).toEqual({ cluster: 'local2' });

  expect(await runCell(page, 0, REMOTE)).toBe(true);
  const payload = await statusPayload(page, 0);
  expect(payload.cluster).toBe('local2');
  await expect(statusLine(page, 0)).toContainText('on local2');
  await saveScreenshot(page, 'cluster-picker-local2');

  // Back to the default: the same bare cell runs on `local`.
  await select.selectOption('');
  expect(await runCell(page, 0, REMOTE)).toBe(true);
  expect((await statusPayload(page, 0)).cluster).not.toBe('local2');
});

test('in a Cluster Bridge notebook, plain cells run on the picked cluster', async ({
  page
}) => {
  await putSettings(page, { clusters: { local2: { type: 'local' } } });
  writeNotebook(
    'ui/cluster-bridge-kernel.ipynb',
    ['print("plain cell on", 6 * 7)'],
    {
      name: 'cluster-bridge',
      display_name: 'Cluster Bridge',
      language: 'python'
    }
  );
  await openNotebook(page, 'ui/cluster-bridge-kernel.ipynb');
  expect(await kernelName(page)).toBe('cluster-bridge');
  const select = pickerSelect(page);
  await select.focus();
  await expect(select.locator('option[value="local2"]')).toHaveCount(1, {
    timeout: 60_000
  });
  await select.selectOption('local2');
  expect(await runCell(page, 0, REMOTE)).toBe(true);
  await expect(cellLocator(page, 0)).toContainText('plain cell on 42');
  expect((await statusPayload(page, 0)).cluster).toBe('local2');
  await saveScreenshot(page, 'cluster-bridge-kernel-notebook');
});

test('a settings change reaches the bridge without a restart', async ({
  page
}) => {
  await putSettings(page, {});
  writeNotebook('ui/cluster-settings.ipynb', ['%%cluster\nprint(1)']);
  await openNotebook(page, 'ui/cluster-settings.ipynb');
  const select = pickerSelect(page);
  await select.focus();
  await expect(select.locator('option[value="local"]')).toHaveCount(1, {
    timeout: 60_000
  });
  await expect(select.locator('option[value="live3"]')).toHaveCount(0);

  await setSettingLive(page, 'clusters', { live3: { type: 'local' } });
  // The option comes back from the bridge kernel's own cluster list.
  await expect(select.locator('option[value="live3"]')).toHaveCount(1, {
    timeout: 30_000
  });
  await select.selectOption('live3');
  expect(await runCell(page, 0, REMOTE)).toBe(true);
  expect((await statusPayload(page, 0)).cluster).toBe('live3');
  await saveScreenshot(page, 'cluster-settings-live');
});

test('the picker can be hidden through the toolbar settings', async ({
  page
}) => {
  const id = '@jupyterlab/notebook-extension:panel';
  const put = (raw: object) =>
    page.request.put(
      `${process.env.CLUSTER_BRIDGE_LAB_URL}/lab/api/settings/${id}`,
      {
        data: { raw: JSON.stringify(raw) }
      }
    );
  expect(
    (
      await put({ toolbar: [{ name: 'clusterPicker', disabled: true }] })
    ).status()
  ).toBeLessThan(300);
  try {
    writeNotebook('ui/cluster-hidden.ipynb', ['1']);
    await openNotebook(page, 'ui/cluster-hidden.ipynb');
    await expect(
      notebookToolbar(page).locator('.jp-Toolbar-item').first()
    ).toBeVisible();
    await expect(
      notebookToolbar(page).locator('.jp-ClusterBridge-picker')
    ).toHaveCount(0);
  } finally {
    await put({});
  }
});
