/**
 * The array summary's Re-run button: the element's `%cluster rerun` line goes
 * into a new code cell below the cell that shows the summary, and that cell
 * runs, all through the notebook's own commands, so the notebook shows (and
 * keeps) exactly what ran. Outside a notebook it copies the line instead.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Clipboard, SemanticCommand } from '@jupyterlab/apputils';
import type { INotebookTracker } from '@jupyterlab/notebook';
import type { ArrayRerun } from './array';

export function createArrayRerun(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null
): ArrayRerun {
  return async (command, origin) => {
    const panel = notebooks?.find(p => p.node.contains(origin)) ?? null;
    const notebook = panel?.content;
    const index =
      notebook?.widgets.findIndex(cell => cell.node.contains(origin)) ?? -1;
    if (!panel || !notebook || index < 0 || notebook.model?.readOnly) {
      Clipboard.copyToSystem(command);
      return `Copied \`${command}\`: paste it into a cell and run it`;
    }
    // The commands act on the notebook named here, at its active cell.
    const args = { [SemanticCommand.WIDGET]: panel.id };
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    await app.commands.execute('notebook:insert-cell-below', args);
    if (notebook.activeCell?.model.type !== 'code') {
      await app.commands.execute('notebook:change-cell-to-code', args);
    }
    const cell = notebook.activeCell;
    if (!cell || notebook.activeCellIndex !== index + 1) {
      throw new Error('the new cell below could not be made');
    }
    cell.model.sharedModel.setSource(command);
    // Not awaited: the run lasts as long as the element; the new cell shows it.
    void app.commands.execute('notebook:run-cell', args);
    return `Inserted \`${command}\` below and started it`;
  };
}
