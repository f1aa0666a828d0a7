/**
 * `jupyterlab-cluster-bridge:renderers`: the live status line and the GPU
 * card, added to the application's rendermime registry (notebooks clone it).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { createGpuRendererFactory } from './gpu';
import { statusRendererFactory } from './status';

export const renderersPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:renderers`,
  description:
    'Renders the live status line and the GPU card of %%cluster cells.',
  autoStart: true,
  requires: [IRenderMimeRegistry, IClusterBridge],
  activate: (
    _app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    bridge: IClusterBridge
  ): void => {
    rendermime.addFactory(statusRendererFactory, 40);
    rendermime.addFactory(
      createGpuRendererFactory(() => bridge.settings.gpuCard),
      40
    );
  }
};
