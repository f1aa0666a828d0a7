// the Cluster Bridge settings (clusters, default cluster, GPU card)
// are edited in JupyterLab's Settings Editor.
import { expect, test } from '@playwright/test';
import { openLab, saveScreenshot } from './helpers';

test('the Settings Editor shows the Cluster Bridge settings', async ({
  page
}) => {
  await openLab(page);
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('settingeditor:open', {
      query: 'Cluster Bridge'
    })
  );
  const editor = page.locator('.jp-SettingsPanel, .jp-SettingsEditor').first();
  await expect(editor).toBeVisible();
  // Scoped to the editor: the Running panel also lists a hidden "Cluster Bridge" kernel.
  await editor.getByText('Cluster Bridge', { exact: true }).first().click();
  for (const title of ['Clusters', 'Default cluster', 'GPU card']) {
    await expect(page.getByText(title, { exact: true }).first()).toBeVisible();
  }
  await saveScreenshot(page, 'cluster-settings-editor');
});
