/**
 * `jupyterlab-cluster-bridge:jobs`: the Remote Jobs side panel, and the
 * commands that show and refresh it.
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { listIcon } from '@jupyterlab/ui-components';
import { CommandIDs, IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { JobsPanel } from './panel';

export const JOBS_PANEL_ID = 'jp-ClusterBridge-jobs';

export const jobsPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:jobs`,
  description:
    'A Remote Jobs side panel: jobs of this server with cancel and open (reattach).',
  autoStart: true,
  requires: [IClusterBridge],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    bridge: IClusterBridge,
    restorer: ILayoutRestorer | null
  ): void => {
    const panel = new JobsPanel({
      bridge,
      onOpen: job =>
        void app.commands.execute(CommandIDs.attachJob, { jobId: job.id }),
      notebookPath: key => Private.notebookPath(app, key)
    });
    panel.id = JOBS_PANEL_ID;
    panel.title.icon = listIcon;
    app.shell.add(panel, 'right', { rank: 600 });
    restorer?.add(panel, JOBS_PANEL_ID);

    app.commands.addCommand(CommandIDs.showJobs, {
      label: 'Show Remote Jobs',
      caption: 'Open the Remote Jobs panel',
      execute: () => {
        app.shell.activateById(JOBS_PANEL_ID);
      }
    });
    app.commands.addCommand(CommandIDs.refreshJobs, {
      label: 'Refresh Remote Jobs',
      execute: () => panel.refresh()
    });
  }
};

namespace Private {
  /** `kernel:<id>` (a Cluster Bridge kernel notebook) → that notebook's path, when open. */
  export function notebookPath(app: JupyterFrontEnd, key: string): string {
    const kernelId = key.startsWith('kernel:') ? key.slice(7) : '';
    if (kernelId) {
      for (const model of app.serviceManager.sessions.running()) {
        if (model.kernel?.id === kernelId) {
          return model.path;
        }
      }
    }
    return key;
  }
}
