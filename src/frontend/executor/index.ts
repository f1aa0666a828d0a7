/**
 * `jupyterlab-cluster-bridge:executor`: provides INotebookCellExecutor.
 * It must not require INotebookTracker (the tracker requires the executor).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookCellExecutor, runCell } from '@jupyterlab/notebook';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { ClusterCellExecutor } from './executor';
import { INTERRUPT_COMMAND, interruptRemoteCells } from './interrupt';

export const executorPlugin: JupyterFrontEndPlugin<INotebookCellExecutor> = {
  id: `${PLUGIN_PREFIX}:executor`,
  description:
    'Runs %%cluster cells on the Cluster Bridge kernel and every other cell on the notebook kernel.',
  autoStart: true,
  provides: INotebookCellExecutor,
  requires: [IClusterBridge],
  activate: (
    app: JupyterFrontEnd,
    bridge: IClusterBridge
  ): INotebookCellExecutor => {
    const executor = new ClusterCellExecutor({
      bridge,
      defaultRunCell: runCell
    });
    app.commands.commandExecuted.connect((_, args) => {
      if (args.id !== INTERRUPT_COMMAND) {
        return;
      }
      const notebook = Private.currentNotebook(app);
      if (!notebook) {
        return;
      }
      interruptRemoteCells(
        bridge,
        executor.running(notebook.model),
        // The notebook as its execute requests name it (server root + path).
        notebook.path ? bridge.notebookKey(notebook.path) : undefined
      ).catch(err =>
        console.warn('cluster-bridge: interrupt of remote cells failed', err)
      );
    });
    return executor;
  }
};

namespace Private {
  /** The model and path of the notebook in the main area, without INotebookTracker. */
  export function currentNotebook(
    app: JupyterFrontEnd
  ): { model: object; path?: string } | null {
    const widget = app.shell.currentWidget as {
      content?: { model?: object | null };
      context?: { path?: string };
    } | null;
    const model = widget?.content?.model;
    return model ? { model, path: widget?.context?.path } : null;
  }
}
