// Helpers of the frontend's ui-tests (cluster-*.spec.ts), on top of the
// harness in helpers.ts: the status line, the picker, settings, and starting
// a cell without waiting for it.
import { expect, Locator, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { cellLocator, labUrl, notebookToolbar } from './helpers';

export const SETTINGS_ID = 'jupyterlab-cluster-bridge:settings';

/** The live status line of cell `index`. */
export function statusLine(page: Page, index: number): Locator {
  return cellLocator(page, index).locator('.jp-ClusterBridge-status').first();
}

/** The cluster picker's <select> on the current notebook's toolbar. */
export function pickerSelect(page: Page): Locator {
  return notebookToolbar(page).locator('.jp-ClusterBridge-picker select');
}

/** Writes the extension's user settings through the server's settings API. */
export async function putSettings(page: Page, settings: object): Promise<void> {
  const response = await page.request.put(
    labUrl(`/lab/api/settings/${SETTINGS_ID}`),
    {
      data: { raw: JSON.stringify(settings) }
    }
  );
  expect(response.status(), await response.text()).toBeLessThan(300);
}

/**
 * Changes the settings inside the running page, through JupyterLab's own
 * setting registry (what the Settings Editor does), so the change reaches the
 * extension live, without a reload.
 */
export async function setSettingLive(
  page: Page,
  key: string,
  value: unknown
): Promise<void> {
  await page.evaluate(
    async ([id, k, v]) => {
      const app = (window as any).jupyterapp;
      const plugins: Map<string, any> = app.pluginRegistry._plugins;
      const registry = plugins.get(
        '@jupyterlab/apputils-extension:settings'
      )?.service;
      if (!registry) {
        throw new Error('the setting registry is not reachable from the page');
      }
      await registry.set(id, k, v);
    },
    [SETTINGS_ID, key, value] as const
  );
}

/** Runs cell `index` through 'notebook:run-cell' without waiting for it to end. */
export async function startCell(page: Page, index: number): Promise<void> {
  await page.evaluate(i => {
    const app = (window as any).jupyterapp;
    const nb = app.shell.currentWidget.content;
    nb.deselectAll();
    nb.activeCellIndex = i;
    void app.commands.execute('notebook:run-cell');
  }, index);
}

/** Execution state and count of cell `index` from its model. */
export async function cellState(
  page: Page,
  index: number
): Promise<{ state: string; count: number | null }> {
  return page.evaluate(i => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    const model = nb.widgets[i].model;
    return { state: model.executionState, count: model.executionCount };
  }, index);
}

/** Waits until cell `index` has finished (idle, with an execution count). */
export async function waitForCellDone(
  page: Page,
  index: number,
  timeout = 120_000
) {
  await page.waitForFunction(
    i => {
      const nb = (window as any).jupyterapp.shell.currentWidget.content;
      const model = nb.widgets[i].model;
      return model.executionState === 'idle' && model.executionCount !== null;
    },
    index,
    { timeout }
  );
}

/**
 * The status payload of cell `index`: its status badge (beside the cell, not
 * an output), else a status output (a headless kernel's queued job).
 */
export async function statusPayload(page: Page, index: number): Promise<any> {
  return page.evaluate(i => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    const badge = nb.widgets[i].layout.widgets.find((w: any) =>
      w.hasClass('jp-ClusterBridge-cellStatus')
    );
    if (badge?.payload) {
      return badge.payload;
    }
    const outputs = nb.widgets[i].model.outputs.toJSON();
    for (const o of outputs) {
      const p = o.data?.['application/vnd.cluster-bridge.status+json'];
      if (p) {
        return p;
      }
    }
    return null;
  }, index);
}

/** Starts recording every phase the status lines of the page show, in order. */
export async function recordPhases(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any;
    w.__clusterPhases = [];
    const scan = () => {
      document
        .querySelectorAll<HTMLElement>('.jp-ClusterBridge-status')
        .forEach(el => {
          const phase = el.dataset.phase;
          const seen: string[] = w.__clusterPhases;
          if (phase && seen[seen.length - 1] !== phase) {
            seen.push(phase);
          }
        });
    };
    w.__clusterPhaseObserver?.disconnect();
    w.__clusterPhaseObserver = new MutationObserver(scan);
    w.__clusterPhaseObserver.observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-phase']
    });
  });
}

export async function recordedPhases(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).__clusterPhases ?? []);
}

/**
 * A settings cluster for the real single-node SLURM, reached as the test
 * sshd's user (scripts/services/sshd.sh and slurm.sh must be running; a
 * missing one fails the test with the command that starts it).
 */
export function slurmCluster(workDir: string): object {
  const facts = (name: string) => {
    const file = path.join(
      __dirname,
      '..',
      '.cache',
      'services',
      `${name}.env`
    );
    if (!fs.existsSync(file)) {
      throw new Error(
        `${file} is missing: start the service with scripts/services/${name}.sh start`
      );
    }
    const env: { [key: string]: string } = {};
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) {
        env[m[1]] = m[2];
      }
    }
    return env;
  };
  facts('slurm');
  const sshd = facts('sshd');
  return {
    type: 'ssh',
    host: sshd.SSHD_HOST,
    port: Number(sshd.SSHD_PORT),
    user: sshd.SSHD_USER,
    identityFile: sshd.SSHD_KEY,
    knownHostsFile: sshd.SSHD_KNOWN_HOSTS,
    scheduler: 'slurm',
    workDir
  };
}

/** Removes a `~/...` work dir of the test sshd's user (after a test on its clusters). */
export function removeSshdWorkDir(workDir: string): void {
  const file = path.join(__dirname, '..', '.cache', 'services', 'sshd.env');
  const home = /^SSHD_HOME=(.*)$/m.exec(fs.readFileSync(file, 'utf8'))?.[1];
  if (home && workDir.startsWith('~/')) {
    fs.rmSync(path.join(home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  }
}
