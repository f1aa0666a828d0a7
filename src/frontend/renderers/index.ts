/**
 * `jupyterlab-cluster-bridge:renderers`: the live status line, the GPU card,
 * a distributed cell's other ranks and an array job's summary, added to the
 * application's rendermime registry (notebooks clone it).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { createArrayRendererFactory } from './array';
import { createArrayRerun } from './arrayRerun';
import { createGpuRendererFactory } from './gpu';
import { createRanksRendererFactory } from './ranks';
import { statusRendererFactory } from './status';

export const renderersPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:renderers`,
  description:
    'Renders the live status line, the GPU card, the other ranks and the array summary of %%cluster cells.',
  autoStart: true,
  requires: [IRenderMimeRegistry, IClusterBridge],
  optional: [INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    bridge: IClusterBridge,
    notebooks: INotebookTracker | null
  ): void => {
    rendermime.addFactory(statusRendererFactory, 40);
    rendermime.addFactory(
      createGpuRendererFactory(() => bridge.settings.gpuCard),
      40
    );
    rendermime.addFactory(createRanksRendererFactory(rendermime), 40);
    rendermime.addFactory(
      createArrayRendererFactory(rendermime, createArrayRerun(app, notebooks)),
      40
    );
  }
};
