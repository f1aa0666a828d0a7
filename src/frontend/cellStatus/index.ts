/**
 * `jupyterlab-cluster-bridge:cell-status`: the live status of a remote cell
 * as a badge under the cell (not an output), and its job id in the cell's
 * metadata, from the bridge's `cellStatus` comm pushes.
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import type { Cell } from '@jupyterlab/cells';
import { INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import { BRIDGE_KERNEL_NAME, IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { CellStatusTracker } from './tracker';

export const cellStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:cell-status`,
  description:
    'Shows the live status of a remote cell under it, outside its saved outputs.',
  autoStart: true,
  requires: [IClusterBridge, INotebookTracker],
  activate: (
    _app: JupyterFrontEnd,
    bridge: IClusterBridge,
    notebooks: INotebookTracker
  ): void => {
    const tracker = new CellStatusTracker(id =>
      Private.findCell(notebooks, id)
    );
    bridge.cellStatus.connect((_, push) => void tracker.handle(push));
    const watch = (panel: NotebookPanel) => {
      const check = () => {
        const kernel = panel.sessionContext.session?.kernel;
        const live = kernel?.status === 'idle' || kernel?.status === 'busy';
        if (kernel?.name === BRIDGE_KERNEL_NAME && live) {
          tracker.listen(kernel);
        }
      };
      panel.sessionContext.kernelChanged.connect(check);
      panel.sessionContext.statusChanged.connect(check);
      void panel.sessionContext.ready.then(check);
    };
    notebooks.forEach(watch);
    notebooks.widgetAdded.connect((_, panel) => watch(panel));
  }
};

namespace Private {
  export function findCell(
    notebooks: INotebookTracker,
    cellId: string
  ): Cell | undefined {
    let found: Cell | undefined;
    notebooks.forEach(panel => {
      found ??= panel.content.widgets.find(c => c.model.id === cellId);
    });
    return found;
  }
}
