/**
 * Routes `cellStatus` pushes (src/shared/comm.ts) to the cell they name:
 * its badge shows the status, its metadata records the job id. Pushes come
 * from the shared bridge session (cells of other kernels' notebooks) and from
 * a comm this tracker keeps open on each notebook whose own kernel is the
 * bridge.
 */
import type { Cell } from '@jupyterlab/cells';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { COMM_TARGET, type CommPush } from '../../shared/comm';
import { showCellStatus } from './badge';
import { writeCellJob } from './cellJob';

export type CellStatusPush = Extract<CommPush, { event: 'cellStatus' }>;

/** Where the cells are: finds an open notebook cell by its id. */
export type CellFinder = (cellId: string) => Cell | undefined;

export class CellStatusTracker {
  constructor(findCell: CellFinder) {
    this._findCell = findCell;
  }

  /** Shows one push; true when its cell is open here. */
  handle(data: unknown): boolean {
    const push = data as Partial<CellStatusPush> | null;
    if (
      !push ||
      push.event !== 'cellStatus' ||
      typeof push.cellId !== 'string' ||
      !push.status ||
      typeof push.status.jobId !== 'string'
    ) {
      return false;
    }
    const cell = this._findCell(push.cellId);
    if (!cell || cell.isDisposed) {
      return false;
    }
    showCellStatus(cell, push.status);
    writeCellJob(cell.model, push.status);
    return true;
  }

  /**
   * Keeps a comm open on a bridge kernel so its pushes reach the cells; a
   * restart closes comms, so the next call (on any status change) reopens it.
   */
  listen(kernel: Kernel.IKernelConnection): void {
    const open = this._comms.get(kernel);
    if (open && !open.isDisposed) {
      return;
    }
    const comm = kernel.createComm(COMM_TARGET);
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) =>
      void this.handle(msg.content.data);
    comm.onClose = () => {
      if (this._comms.get(kernel) === comm) {
        this._comms.delete(kernel);
      }
    };
    comm.open({});
    this._comms.set(kernel, comm);
  }

  private _findCell: CellFinder;
  private _comms = new WeakMap<Kernel.IKernelConnection, Kernel.IComm>();
}
