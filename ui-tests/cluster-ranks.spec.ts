// The other ranks of a distributed cell (RANKS_MIME) in Chromium. The payload
// is produced for real by a `%%cluster local` cell: the remote runner sends it
// with display(..., raw=True) and later updates it in place (display_id), the
// bridge forwards both, the renderer shows them. The cell waits for a file
// the test writes, so the update lands after the reader has opened a rank.
import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  cellLocator,
  cellOutputText,
  labRoot,
  openNotebook,
  runCell,
  saveScreenshot,
  waitForOutput,
  writeNotebook
} from './helpers';
import {
  putSettings,
  removeSshdWorkDir,
  slurmCluster,
  startCell,
  waitForCellDone
} from './cluster-helpers';

const REMOTE = 180_000;
const RED = '\u001b[0;31m';
const RESET = '\u001b[0m';

/** Ranks 1-3 of a 2-node job: rank 2 failed, 1 and 3 still run (then are done). */
function payload(update: boolean) {
  return {
    jobId: '20261205-ranks',
    worldSize: 4,
    nodes: ['node-a', 'node-b'],
    failedRank: 2,
    ranks: [
      {
        rank: 1,
        localRank: 1,
        node: 'node-a',
        state: update ? 'done' : 'running',
        outputs: [
          { type: 'stream', name: 'stdout', text: 'epoch 1 loss=0.52\n' },
          ...(update
            ? [{ type: 'stream', name: 'stdout', text: 'epoch 2 loss=0.31\n' }]
            : [])
        ]
      },
      {
        rank: 2,
        localRank: 0,
        node: 'node-b',
        state: 'error',
        outputs: [
          { type: 'stream', name: 'stderr', text: 'warning: slow link\n' },
          {
            type: 'error',
            ename: 'RuntimeError',
            evalue: 'all_reduce timed out',
            traceback: [
              `${RED}RuntimeError${RESET}  Traceback (most recent call last)`,
              'Cell In[1], line 9\n----> 9 all_reduce(t)',
              `${RED}RuntimeError${RESET}: all_reduce timed out`
            ]
          }
        ]
      },
      {
        rank: 3,
        localRank: 1,
        node: 'node-b',
        state: update ? 'done' : 'running',
        outputs: [
          { type: 'stream', name: 'stdout', text: 'epoch 1 loss=0.50\n' }
        ]
      }
    ]
  };
}

test('other ranks: a collapsed toggle, one tab per rank, all ranks tagged, updated in place', async ({
  page
}) => {
  const go = path.join(labRoot(), '..', `ranks-go-${Date.now()}`);
  writeNotebook('ui/cluster-ranks.ipynb', [
    [
      '%%cluster local',
      'import json, os, time',
      "MIME = 'application/vnd.cluster-bridge.ranks+json'",
      `first = json.loads(r'''${JSON.stringify(payload(false))}''')`,
      `later = json.loads(r'''${JSON.stringify(payload(true))}''')`,
      "print('rank 0 of 4 on node-a')",
      "h = display({MIME: first, 'text/plain': 'Other ranks: 3 (plain)'}, raw=True, display_id=True)",
      'deadline = time.time() + 150',
      `while not os.path.exists(${JSON.stringify(go)}) and time.time() < deadline:`,
      '    time.sleep(0.1)',
      "display({MIME: later, 'text/plain': 'Other ranks: 3 (plain)'}, raw=True, display_id=h.display_id, update=True)",
      "print('rank 0 done')"
    ].join('\n')
  ]);
  await openNotebook(page, 'ui/cluster-ranks.ipynb');
  await startCell(page, 0);

  const cell = cellLocator(page, 0);
  const ranks = cell.locator('.jp-ClusterBridge-Ranks');
  const toggle = ranks.locator('.jp-ClusterBridge-Ranks-toggle');
  const tab = (name: string | RegExp) =>
    ranks.getByRole('tab', { name, exact: typeof name === 'string' });
  const shown = ranks.locator('.jp-ClusterBridge-Ranks-outputs');

  // Rank 0 inline, the others behind one collapsed line.
  await waitForOutput(page, 0, 'rank 0 of 4 on node-a', REMOTE);
  await expect(toggle).toHaveText(
    '▸ Other ranks: 3 on 2 nodes · rank 2 failed · 2 running',
    { timeout: REMOTE }
  );
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(ranks.locator('.jp-ClusterBridge-Ranks-body')).toBeHidden();
  await expect(ranks).toHaveClass(/jp-mod-failed/);

  // Keyboard: the toggle is a button; Enter opens it on the failed rank.
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  const failed = tab('✗ rank 2 (node-b)');
  await expect(failed).toHaveAttribute('aria-selected', 'true');
  await expect(failed).toHaveClass(/jp-mod-failed/);
  await expect(ranks.locator('.jp-ClusterBridge-Ranks-heading')).toHaveText(
    'rank 2 (node-b) · local rank 0 · failed'
  );
  // stderr in JupyterLab's stderr style; the traceback ANSI-rendered.
  const stderr = shown.locator(
    '[data-mime-type="application/vnd.jupyter.stderr"]'
  );
  await expect(stderr).toHaveCount(2);
  await expect(stderr.first()).toContainText('warning: slow link');
  await expect(stderr.nth(1).locator('.ansi-red-fg').first()).toHaveText(
    'RuntimeError'
  );
  await expect(stderr.nth(1)).toContainText('all_reduce timed out');
  await expect(stderr.nth(1)).not.toContainText('[0;31m');
  await saveScreenshot(page, 'cluster-ranks-failed');

  // Arrow keys move along the tabs; Home is "All ranks", every line tagged.
  await failed.focus();
  await page.keyboard.press('ArrowRight');
  await expect(tab('▶ rank 3 (node-b)')).toHaveAttribute(
    'aria-selected',
    'true'
  );
  await expect(tab('▶ rank 3 (node-b)')).toBeFocused();
  await expect(shown).toHaveText('epoch 1 loss=0.50');
  await page.keyboard.press('Home');
  await expect(tab('All ranks')).toHaveAttribute('aria-selected', 'true');
  await expect(shown).toContainText('[rank 1] epoch 1 loss=0.52');
  await expect(shown).toContainText('[rank 2] warning: slow link');
  await expect(shown).toContainText('[rank 2] Cell In[1], line 9');
  await expect(shown).toContainText('[rank 3] epoch 1 loss=0.50');
  await saveScreenshot(page, 'cluster-ranks-all');

  // A click picks rank 1; the bridge's update keeps it open on rank 1.
  await tab('▶ rank 1 (node-a)').click();
  await expect(shown).toHaveText('epoch 1 loss=0.52');
  fs.writeFileSync(go, '');
  await expect(toggle).toHaveText(
    '▾ Other ranks: 3 on 2 nodes · rank 2 failed',
    { timeout: REMOTE }
  );
  await expect(tab('✓ rank 1 (node-a)')).toHaveAttribute(
    'aria-selected',
    'true'
  );
  await expect(shown).toContainText('epoch 2 loss=0.31');
  await waitForCellDone(page, 0, REMOTE);
  await waitForOutput(page, 0, 'rank 0 done');
  // One ranks output, updated in place: not a second copy.
  await expect(cell.locator('.jp-ClusterBridge-Ranks')).toHaveCount(1);

  // Collapsing again renders nothing below the line.
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(shown.locator('.jp-ClusterBridge-subOutput')).toHaveCount(0);
});

test('a real --tasks-per-node 2 --gpus-per-node 1 --launch srun cell on SLURM: rank 0 inline, rank 1 behind the toggle, the GPU card per node', async ({
  page
}) => {
  const workDir = `~/.cb-ui-ranks-${process.pid}`;
  await putSettings(page, { clusters: { 'ui-slurm': slurmCluster(workDir) } });
  try {
    writeNotebook('ui/cluster-ranks-slurm.ipynb', [
      [
        '%%cluster ui-slurm --tasks-per-node 2 --gpus-per-node 1 --launch srun',
        'import os',
        "rank = int(os.environ['RANK'])",
        "print('rank %d of %s' % (rank, os.environ['WORLD_SIZE']))",
        'if rank == 1:',
        "    import sys; print('rank 1 warns', file=sys.stderr)"
      ].join('\n')
    ]);
    await openNotebook(page, 'ui/cluster-ranks-slurm.ipynb');
    const ran = await runCell(page, 0, REMOTE);
    expect(ran, await cellOutputText(page, 0)).toBe(true);

    const ranks = cellLocator(page, 0).locator('.jp-ClusterBridge-Ranks');
    await waitForOutput(page, 0, 'rank 0 of 2');
    const toggle = ranks.locator('.jp-ClusterBridge-Ranks-toggle');
    await expect(toggle).toHaveText('▸ Other ranks: 1 · all done');
    await toggle.click();
    const shown = ranks.locator('.jp-ClusterBridge-Ranks-outputs');
    await expect(shown).toContainText('[rank 1] rank 1 of 2');
    await expect(
      shown.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    ).toContainText('[rank 1] rank 1 warns');
    await ranks.getByRole('tab', { name: /rank 1 \(/ }).click();
    await expect(
      ranks.locator('.jp-ClusterBridge-Ranks-heading')
    ).toContainText('local rank 1 · done');
    // The GPU card lists the job's node with both ranks (SLURM's GPU is a
    // stand-in with no device to read, so only its CUDA_VISIBLE_DEVICES shows).
    const gpuNode = cellLocator(page, 0).locator('.jp-ClusterBridge-gpu-node');
    await expect(gpuNode).toHaveCount(1);
    await expect(gpuNode.locator('.jp-ClusterBridge-gpu-details')).toHaveText(
      'ranks 0, 1 · CUDA_VISIBLE_DEVICES=0'
    );
    await saveScreenshot(page, 'cluster-ranks-slurm');
  } finally {
    await putSettings(page, {});
    removeSshdWorkDir(workDir);
  }
});
