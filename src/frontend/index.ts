/**
 * jupyterlab-cluster-bridge: run a notebook cell on a remote machine or HPC
 * cluster. One plugin per feature; they share the bridge through
 * IClusterBridge (tokens.ts).
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { bridgePlugin, notebookEndPlugin } from './bridge';
import { cellStatusPlugin } from './cellStatus';
import { commandsPlugin } from './commands';
import { executorPlugin } from './executor';
import { remotePromptsPlugin } from './executor/prompts';
import { jobsPlugin } from './jobs';
import { pickerPlugin } from './picker';
import { renderersPlugin } from './renderers';
import { settingsPlugin } from './settings';

export * from './tokens';

const plugins: JupyterFrontEndPlugin<any>[] = [
  bridgePlugin,
  settingsPlugin,
  executorPlugin,
  remotePromptsPlugin,
  pickerPlugin,
  renderersPlugin,
  cellStatusPlugin,
  jobsPlugin,
  commandsPlugin,
  notebookEndPlugin
];

export default plugins;
