/**
 * Prompt numbers of remote cells. In a notebook on another kernel (Python),
 * `%%cluster` cells run on the bridge kernel, whose counter knows nothing of
 * the notebook's: `[1]` local and `[1]` remote would collide. Remote cells
 * therefore count on their own, per notebook (after the highest remote count
 * it shows), and their prompts read `[r3]:` (input and result). The saved execution_count stays
 * a plain int (nbformat); the `r` comes back on load because whether a cell
 * is remote follows from its source (routing.ts).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import type { Cell, CodeCell, ICodeCellModel } from '@jupyterlab/cells';
import {
  INotebookTracker,
  type INotebookModel,
  type NotebookPanel
} from '@jupyterlab/notebook';
import type { OutputPrompt } from '@jupyterlab/outputarea';
import type { Panel } from '@lumino/widgets';
import { PLUGIN_PREFIX } from '../tokens';
import { routeCell } from './routing';

/** Marks a cell whose prompt shows a remote count. */
export const REMOTE_PROMPT_CLASS = 'jp-ClusterBridge-remotePrompt';

/** What the prompt of a cell shows (without the brackets), JupyterLab's rule plus the `r`. */
export function promptText(
  count: number | null,
  running: boolean,
  remote: boolean
): string {
  if (running) {
    return '*';
  }
  if (!count) {
    return '';
  }
  return remote ? `r${count}` : `${count}`;
}

/** The highest remote count a notebook shows, 0 for none. */
export function highestRemoteCount(
  notebook: Pick<INotebookModel, 'cells'>,
  kernelName: string | null | undefined
): number {
  let highest = 0;
  for (let i = 0; i < notebook.cells.length; i++) {
    const cell = notebook.cells.get(i);
    if (cell.type !== 'code') {
      continue;
    }
    const count = (cell as ICodeCellModel).executionCount;
    if (
      count &&
      count > highest &&
      routeCell(cell.sharedModel.getSource(), kernelName) === 'bridge'
    ) {
      highest = count;
    }
  }
  return highest;
}

/**
 * Hands out remote counts per notebook: after the highest one it shows and
 * after every one handed out (cells running side by side get their own).
 */
export class RemoteCounter {
  next(
    notebook: Pick<INotebookModel, 'cells'>,
    kernelName: string | null | undefined
  ): number {
    const count =
      Math.max(
        highestRemoteCount(notebook, kernelName),
        this._last.get(notebook) ?? 0
      ) + 1;
    this._last.set(notebook, count);
    return count;
  }

  private _last = new WeakMap<object, number>();
}

/** Keeps the `[rN]` prompts of every notebook's remote cells. */
export const remotePromptsPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:remote-prompts`,
  description:
    'Shows the prompts of %%cluster cells in notebooks on another kernel as [r1], [r2], ... so they never collide with local numbers.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    tracker.widgetAdded.connect((_, panel) => Private.watch(panel));
    tracker.forEach(panel => Private.watch(panel));
  }
};

namespace Private {
  const watched = new WeakSet<Cell>();
  const OUTPUT_PROMPT_CLASS = 'jp-OutputArea-prompt';
  const TOOLTIP =
    'Ran on a cluster through Cluster Bridge: remote cells count r1, r2, ... apart from the notebook kernel';

  export function kernelNameOf(panel: NotebookPanel): string | undefined {
    const context = panel.sessionContext;
    return context.session?.kernel?.name ?? context.kernelPreference.name;
  }

  /** Re-draws one cell's prompt after JupyterLab drew its own. */
  export function decorate(panel: NotebookPanel, cell: Cell): void {
    if (cell.isDisposed || cell.model.type !== 'code') {
      return;
    }
    const model = cell.model as ICodeCellModel;
    const remote =
      routeCell(model.sharedModel.getSource(), kernelNameOf(panel)) ===
      'bridge';
    const running = model.executionState === 'running';
    cell.setPrompt(promptText(model.executionCount, running, remote));
    const marked = remote && !running && !!model.executionCount;
    cell.toggleClass(REMOTE_PROMPT_CLASS, marked);
    const prompt = cell.promptNode;
    if (prompt) {
      prompt.title = marked ? TOOLTIP : '';
    }
    decorateOutputs(cell as CodeCell, remote);
  }

  /** `Out` prompts: `[r3]:` beside a remote cell's result too. */
  function decorateOutputs(cell: CodeCell, remote: boolean): void {
    for (const item of cell.outputArea?.widgets ?? []) {
      const prompt = (item as Panel).widgets?.[0] as OutputPrompt | undefined;
      if (!prompt?.hasClass(OUTPUT_PROMPT_CLASS)) {
        continue;
      }
      const count = prompt.executionCount;
      prompt.node.textContent = count
        ? `[${promptText(count, false, remote)}]:`
        : '';
      prompt.node.title = remote && count ? TOOLTIP : '';
    }
  }

  export function watchCell(panel: NotebookPanel, cell: Cell): void {
    if (watched.has(cell) || cell.model.type !== 'code') {
      return;
    }
    watched.add(cell);
    // Connected after the cell's own handler: runs after it has drawn `[3]`.
    const redraw = () => decorate(panel, cell);
    // Outputs: once the output area has made the new output's widget.
    const redrawLater = () => void Promise.resolve().then(redraw);
    const model = cell.model as ICodeCellModel;
    model.stateChanged.connect(redraw);
    model.outputs.changed.connect(redrawLater);
    cell.disposed.connect(() => {
      model.stateChanged.disconnect(redraw);
      model.outputs.changed.disconnect(redrawLater);
    });
    // A placeholder cell draws its prompt when it is first shown.
    void cell.ready.then(redraw);
    redraw();
  }

  export function watch(panel: NotebookPanel): void {
    const all = () => {
      for (const cell of panel.content.widgets) {
        watchCell(panel, cell);
        decorate(panel, cell);
      }
    };
    const onModel = () => {
      panel.content.model?.cells.changed.connect(all);
      all();
    };
    panel.content.modelChanged.connect(onModel);
    panel.sessionContext.kernelChanged.connect(all);
    void panel.context.ready.then(onModel);
    panel.disposed.connect(() => {
      panel.content.model?.cells.changed.disconnect(all);
      panel.content.modelChanged.disconnect(onModel);
      panel.sessionContext.kernelChanged.disconnect(all);
    });
  }
}
