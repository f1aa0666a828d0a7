/**
 * `jupyterlab-cluster-bridge:settings`: clusters, default cluster and the GPU
 * card switch from the Settings Editor. Every change goes to the bridge over
 * the comm (`settings` op), so no restart is needed.
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IClusterBridge, PLUGIN_PREFIX, type IBridgeSettings } from '../tokens';

export const settingsPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:settings`,
  description:
    'Cluster Bridge settings: clusters, default cluster, GPU card; sent to the bridge kernel on change.',
  autoStart: true,
  requires: [IClusterBridge, ISettingRegistry],
  activate: async (
    _app: JupyterFrontEnd,
    bridge: IClusterBridge,
    registry: ISettingRegistry
  ): Promise<void> => {
    const settings = await registry.load(settingsPlugin.id);
    const apply = () => {
      bridge
        .setSettings(toBridgeSettings(settings.composite))
        .catch(err =>
          console.warn('cluster-bridge: settings not sent to the bridge', err)
        );
    };
    settings.changed.connect(apply);
    apply();
  }
};

/** Settings as stored (possibly partial) to what the bridge model takes. */
export function toBridgeSettings(
  composite: Readonly<{ [key: string]: unknown }>
): IBridgeSettings {
  const clusters =
    composite.clusters && typeof composite.clusters === 'object'
      ? (composite.clusters as IBridgeSettings['clusters'])
      : {};
  const defaultCluster =
    typeof composite.defaultCluster === 'string' && composite.defaultCluster
      ? composite.defaultCluster
      : undefined;
  return {
    clusters,
    defaultCluster,
    gpuCard: composite.gpuCard !== false
  };
}
