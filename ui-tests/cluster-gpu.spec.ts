// the GPU card. There is no GPU here, so a clearly named stand-in
// for nvidia-smi (FAKE-nvidia-smi, a shell script answering the runner's
// query) is put on PATH of a `gpu-local` cluster through its env setup lines;
// everything else is the real pipeline: runner, bridge kernel, renderer.
import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  cellLocator,
  labRoot,
  openNotebook,
  runCell,
  saveScreenshot,
  writeNotebook
} from './helpers';
import { putSettings, setSettingLive } from './cluster-helpers';

const REMOTE = 180_000;

/** A stand-in nvidia-smi: one 80 GiB device, 40 GiB used at first, then 20 GiB. */
function writeFakeNvidiaSmi(): string {
  const dir = path.join(labRoot(), '..', 'fake-gpu-bin');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'nvidia-smi');
  fs.writeFileSync(
    file,
    [
      '#!/bin/sh',
      '# FAKE nvidia-smi for ui-tests: answers --query-gpu=index,uuid,name,memory.total,memory.used',
      'echo "0, GPU-00000000-fake, NVIDIA Fake A100 (test stand-in), 81920, 40960"',
      'while true; do',
      '  sleep 0.2',
      '  echo "0, GPU-00000000-fake, NVIDIA Fake A100 (test stand-in), 81920, 20480" || exit 0',
      'done'
    ].join('\n') + '\n',
    { mode: 0o755 }
  );
  return dir;
}

test.afterEach(async ({ page }) => {
  await putSettings(page, {});
});

test('a remote cell shows a GPU card; with gpuCard off it shows none', async ({
  page
}) => {
  const bin = writeFakeNvidiaSmi();
  await putSettings(page, {
    clusters: {
      'gpu-local': {
        type: 'local',
        // Its env (setup lines name this run's temp dir) lives and dies with the run.
        workDir: path.join(labRoot(), '..', 'gpu-work'),
        env: {
          setup: [
            `export PATH='${bin}':"$PATH"`,
            'export CUDA_VISIBLE_DEVICES=0'
          ]
        }
      }
    }
  });
  writeNotebook('ui/cluster-gpu.ipynb', [
    '%%cluster gpu-local\nimport time\ntime.sleep(1)\nprint("on the gpu node")'
  ]);
  await openNotebook(page, 'ui/cluster-gpu.ipynb');
  expect(await runCell(page, 0, REMOTE)).toBe(true);

  const card = cellLocator(page, 0).locator('.jp-ClusterBridge-gpu');
  await expect(card).toBeVisible();
  await expect(card.locator('.jp-ClusterBridge-gpu-name')).toHaveText(
    '0: NVIDIA Fake A100 (test stand-in)'
  );
  await expect(card.locator('.jp-ClusterBridge-gpu-memory')).toHaveText(
    '20.0 GiB used · peak 40.0 GiB of 80.0 GiB'
  );
  await expect(card.locator('.jp-ClusterBridge-gpu-details')).toContainText(
    'CUDA_VISIBLE_DEVICES=0'
  );
  await expect(card.locator('.jp-ClusterBridge-gpu-details')).toContainText(
    'via nvidia-smi'
  );
  await expect(card.locator('.jp-ClusterBridge-gpu-used')).toHaveAttribute(
    'style',
    /width: 25(\.0)?%/
  );
  await expect(card.locator('.jp-ClusterBridge-gpu-peak')).toHaveAttribute(
    'style',
    /width: 50(\.0)?%/
  );
  await saveScreenshot(page, 'cluster-gpu-card');

  // Settings Editor change, live: the bridge stops sending GPU cards.
  await setSettingLive(page, 'gpuCard', false);
  await page.waitForTimeout(500);
  expect(await runCell(page, 0, REMOTE)).toBe(true);
  await expect(cellLocator(page, 0)).toContainText('on the gpu node');
  await expect(
    cellLocator(page, 0).locator('.jp-ClusterBridge-gpu')
  ).toHaveCount(0);
});
