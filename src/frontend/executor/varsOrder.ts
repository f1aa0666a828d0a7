/**
 * Run order around cells that move variables. JupyterLab's "run all" starts
 * every cell at once and relies on the kernel's queue for order, but a
 * `--in`/`--out`/push/pull cell talks to two kernels in turn: a later cell
 * would otherwise run before the values it uses were set. So the cells of a
 * notebook that start while such a cell is in flight wait for it, and do
 * not run when it failed (as ipykernel drops its queue after an error).
 */
import { PromiseDelegate } from '@lumino/coreutils';

/** The part of a cell the order touches: its prompt while it waits. */
export interface IOrderedCell {
  readonly isDisposed: boolean;
  readonly model: { executionState: 'idle' | 'running' };
}

export class VarsOrder {
  /**
   * Runs `run` for a cell of `notebook`. `holds`: the cell moves variables,
   * and cells started after it wait until it ends. Resolves false without
   * running when a cell it waited for failed.
   */
  async run(
    notebook: object,
    cell: IOrderedCell,
    holds: boolean,
    run: () => Promise<boolean>
  ): Promise<boolean> {
    const ahead = this._tails.get(notebook);
    if (!ahead && !holds) {
      return run();
    }
    // Whatever waits becomes part of the chain, so the cells behind it keep their order.
    const mine = new PromiseDelegate<boolean>();
    this._tails.set(notebook, mine.promise);
    let ok = false;
    try {
      if (ahead) {
        cell.model.executionState = 'running';
        if (!(await ahead)) {
          if (!cell.isDisposed) {
            cell.model.executionState = 'idle';
          }
          return false;
        }
      }
      ok = await run();
      return ok;
    } finally {
      mine.resolve(ok);
      if (this._tails.get(notebook) === mine.promise) {
        this._tails.delete(notebook);
      }
    }
  }

  /** True while a variables cell of `notebook` holds later cells. */
  isHolding(notebook: object): boolean {
    return this._tails.has(notebook);
  }

  private _tails = new WeakMap<object, Promise<boolean>>();
}
