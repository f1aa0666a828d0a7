/**
 * `jupyterlab-cluster-bridge:bridge`: the shared Cluster Bridge session and
 * comm (IClusterBridge). Joins a running bridge session at startup (a reload
 * sees its jobs at once) but starts one only on first use.
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { BridgeModel } from './model';

export const bridgePlugin: JupyterFrontEndPlugin<IClusterBridge> = {
  id: `${PLUGIN_PREFIX}:bridge`,
  description:
    'The Cluster Bridge kernel session shared by all notebooks, and its comm.',
  autoStart: true,
  provides: IClusterBridge,
  activate: (app: JupyterFrontEnd): IClusterBridge => {
    const bridge = new BridgeModel({ sessions: app.serviceManager.sessions });
    void app.serviceManager.ready.then(() => bridge.connectIfRunning());
    return bridge;
  }
};
