/**
 * `jupyterlab-cluster-bridge:bridge`: the shared Cluster Bridge session and
 * comm (IClusterBridge). Joins a running bridge session at startup (a reload
 * sees its jobs at once) but starts one only on first use.
 */
import {
  JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { BridgeModel } from './model';
import { NotebookEndWatcher } from './notebookEnd';

export const bridgePlugin: JupyterFrontEndPlugin<IClusterBridge> = {
  id: `${PLUGIN_PREFIX}:bridge`,
  description:
    'The Cluster Bridge kernel session shared by all notebooks, and its comm.',
  autoStart: true,
  provides: IClusterBridge,
  optional: [JupyterFrontEnd.IPaths],
  activate: (
    app: JupyterFrontEnd,
    paths: JupyterFrontEnd.IPaths | null
  ): IClusterBridge => {
    const bridge = new BridgeModel({
      sessions: app.serviceManager.sessions,
      serverRoot: paths?.directories.serverRoot
    });
    void app.serviceManager.ready.then(() => bridge.connectIfRunning());
    return bridge;
  }
};

/**
 * `jupyterlab-cluster-bridge:notebook-end`: a notebook whose own kernel is shut
 * down or restarted on purpose has its remote sessions stopped. Apart from the
 * bridge plugin: the tracker needs the executor, which needs the bridge.
 */
export const notebookEndPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:notebook-end`,
  description:
    "Stops a notebook's remote sessions when its own kernel is shut down or restarted.",
  autoStart: true,
  requires: [IClusterBridge, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    bridge: IClusterBridge,
    tracker: INotebookTracker
  ): void => {
    const watcher = new NotebookEndWatcher({
      bridge,
      sessions: app.serviceManager.sessions
    });
    tracker.forEach(panel => watcher.watchNotebook(panel.sessionContext));
    tracker.widgetAdded.connect((_, panel) =>
      watcher.watchNotebook(panel.sessionContext)
    );
  }
};
