// PLACEHOLDER written by the build setup so that the labextension builds before the frontend
// plugins land; the frontend's real index.ts replaces this file.
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-cluster-bridge:plugin',
  description: 'Cluster Bridge (placeholder until the frontend plugins land).',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    console.log('jupyterlab-cluster-bridge: placeholder plugin activated');
  }
};

export default plugin;
