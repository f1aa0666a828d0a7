/**
 * `jupyterlab-cluster-bridge:picker`: the `clusterPicker` notebook toolbar
 * item (schema/picker.json places it next to the kernel name; hide it through
 * the Notebook Panel toolbar settings like any other item).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Widget } from '@lumino/widgets';
import { IClusterBridge, PLUGIN_PREFIX } from '../tokens';
import { ClusterPicker } from './picker';

export const pickerPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:picker`,
  description:
    'A notebook toolbar item to pick the cluster a bare %%cluster runs on.',
  autoStart: true,
  requires: [IToolbarWidgetRegistry, IClusterBridge],
  activate: (
    _app: JupyterFrontEnd,
    toolbarRegistry: IToolbarWidgetRegistry,
    bridge: IClusterBridge
  ): void => {
    toolbarRegistry.addFactory<Widget>('Notebook', 'clusterPicker', panel => {
      const notebook = panel as NotebookPanel;
      const picker = new ClusterPicker({ bridge });
      const bind = () => {
        if (!picker.isDisposed) {
          picker.model = notebook.model;
          picker.path = notebook.context?.path ?? '';
          picker.kernelId = notebook.sessionContext?.session?.kernel?.id ?? '';
        }
      };
      bind();
      notebook.context?.ready.then(bind).catch(() => undefined);
      notebook.context?.pathChanged.connect(bind);
      notebook.sessionContext?.kernelChanged.connect(bind);
      notebook.content?.modelChanged.connect(bind);
      return picker;
    });
  }
};
