/**
 * The notebook cell executor: `%%cluster` cells run on the Cluster Bridge
 * kernel, every other cell goes to JupyterLab's own `runCell` untouched.
 */
import type { CodeCell } from '@jupyterlab/cells';
import type { INotebookCellExecutor } from '@jupyterlab/notebook';
import { Signal, type ISignal } from '@lumino/signaling';
import { looksLikeJobId } from '../../shared/magic';
import { STATUS_MIME, type IStatusPayload } from '../../shared/mime';
import { NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import { pickedClusterOf, readPickedCluster } from '../pickedCluster';
import {
  BRIDGE_KERNEL_NAME,
  type IClusterBridge,
  type IRemoteExecution
} from '../tokens';
import { executeOnBridge, showRefusal } from './execute';
import { KernelSettingsSync } from './kernelsync';
import { RemoteCounter } from './prompts';
import { refusal, remoteRunMetadata, routeCell } from './routing';
import {
  appendVarsError,
  cellVars,
  showVarsError,
  varsAfterCell,
  varsBeforeCell
} from './vars';
import { VarsOrder } from './varsOrder';

type RunCell = (
  options: INotebookCellExecutor.IRunCellOptions
) => Promise<boolean>;

export class ClusterCellExecutor implements INotebookCellExecutor {
  constructor(options: ClusterCellExecutor.IOptions) {
    this._bridge = options.bridge;
    this._defaultRunCell = options.defaultRunCell;
  }

  /** Emitted when a remote cell starts or ends. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Remote cells in flight, of one notebook model or of all. */
  running(notebook?: object): IRemoteExecution[] {
    const all = [...this._running];
    for (const entry of all) {
      entry.jobId = entry.jobId ?? Private.jobIdOf(entry.cell);
    }
    return notebook ? all.filter(e => e.notebook === notebook) : all;
  }

  runCell(options: INotebookCellExecutor.IRunCellOptions): Promise<boolean> {
    const { cell, sessionContext } = options;
    if (cell.model.type !== 'code') {
      return this._defaultRunCell(options);
    }
    const kernelName =
      sessionContext?.session?.kernel?.name ??
      sessionContext?.kernelPreference.name;
    const source = cell.model.sharedModel.getSource();
    const onBridge = kernelName === BRIDGE_KERNEL_NAME;
    // Cells that move variables use two kernels in turn: later cells wait (varsOrder.ts).
    const holds = !onBridge && cellVars(source) !== null;
    return this._varsOrder.run(options.notebook, cell as CodeCell, holds, () =>
      this._route(options, source, kernelName, onBridge)
    );
  }

  private _route(
    options: INotebookCellExecutor.IRunCellOptions,
    source: string,
    kernelName: string | undefined,
    onBridge: boolean
  ): Promise<boolean> {
    const cell = options.cell;
    if (!onBridge && routeCell(source, kernelName) === 'default') {
      return this._defaultRunCell(options);
    }
    // Checked at the moment of the run: metadata comes with the file.
    const refused = refusal(
      source,
      kernelName,
      pickedClusterOf(options.notebook),
      Object.keys(cell.model.metadata)
    );
    if (refused) {
      return this._refuse(options, refused);
    }
    if (onBridge) {
      return this._runOnBridgeNotebook(options);
    }
    return this._runRemote(options, source, kernelName);
  }

  /** Says in the cell why it did not run; fails like a kernel error. */
  private async _refuse(
    options: INotebookCellExecutor.IRunCellOptions,
    message: string
  ): Promise<boolean> {
    const cell = options.cell as CodeCell;
    showRefusal(cell, message);
    const failure = Private.kernelError({
      ename: 'ClusterBridgeError',
      evalue: message
    });
    options.onCellExecuted({ cell, success: false, error: failure });
    throw failure;
  }

  /** The notebook's own kernel is the bridge: settings first, then runCell. */
  private async _runOnBridgeNotebook(
    options: INotebookCellExecutor.IRunCellOptions
  ): Promise<boolean> {
    const kernel = options.sessionContext?.session?.kernel;
    if (kernel) {
      const picked = readPickedCluster(options.notebook);
      try {
        await this._kernelSync.sync(kernel, this._bridge.settings, picked);
      } catch (err) {
        // An older bridge without the comm still runs the cell on its default.
        console.warn(
          'cluster-bridge: settings not sent to the notebook kernel',
          err
        );
      }
    }
    return this._defaultRunCell(options);
  }

  private async _runRemote(
    options: INotebookCellExecutor.IRunCellOptions,
    source: string,
    kernelName: string | undefined
  ): Promise<boolean> {
    const { notebook, onCellExecuted, onCellExecutionScheduled } = options;
    const cell = options.cell as CodeCell;
    onCellExecutionScheduled({ cell });
    const entry: Private.IEntry = {
      notebook,
      cell,
      cellId: cell.model.sharedModel.getId()
    };
    this._running.add(entry);
    this._changed.emit();
    let failure: ReturnType<typeof Private.kernelError>;
    // The picked cluster at the moment of the run, not once the bridge is up.
    const picked = remoteRunMetadata(source, pickedClusterOf(notebook));
    // The path now, not at open: a renamed notebook keeps its sessions by it.
    const identity = Private.notebookIdentity(
      this._bridge.notebookKey(options.sessionContext?.path ?? '')
    );
    try {
      const outcome = await this._execute(cell, source, options, {
        identity,
        picked,
        // The notebook's own remote sequence: [r1], [r2] (prompts.ts).
        executionCount: () => this._remoteCounts.next(notebook, kernelName)
      });
      if (outcome === 'gone') {
        return false;
      }
      if (outcome === 'ok') {
        onCellExecuted({ cell, success: true });
        return true;
      }
      failure = Private.kernelError(outcome);
    } catch (reason) {
      if (
        cell.isDisposed ||
        String((reason as Error)?.message).startsWith('Canceled')
      ) {
        if (!cell.isDisposed) {
          cell.model.executionState = 'idle';
        }
        return false;
      }
      Private.showFailure(cell, reason);
      onCellExecuted({ cell, success: false, error: null });
      return false;
    } finally {
      this._running.delete(entry);
      this._changed.emit();
    }
    // Like the default runCell: report, then throw so "run all" stops
    // marking later cells as queued (NotebookActions checks the message).
    onCellExecuted({ cell, success: false, error: failure });
    throw failure;
  }

  /**
   * The `--in` export in the notebook's kernel, the cell on the bridge, the
   * `--out` import: 'ok', the error the cell ends with, or 'gone' (disposed).
   */
  private async _execute(
    cell: CodeCell,
    source: string,
    options: INotebookCellExecutor.IRunCellOptions,
    run: Private.IRunMetadata
  ): Promise<'ok' | 'gone' | Private.IErrorContent> {
    const local = options.sessionContext?.session?.kernel;
    if (local && cellVars(source)?.inNames.length) {
      // The export may queue behind the notebook's kernel: show [*] meanwhile.
      cell.model.executionState = 'running';
    }
    const kernel = await this._bridge.ensureStarted();
    const vars = await varsBeforeCell(source, {
      bridge: this._bridge,
      local,
      notebook: run.identity[NOTEBOOK_METADATA_KEY] ?? ''
    });
    if (cell.isDisposed) {
      return 'gone';
    }
    if ('error' in vars) {
      showVarsError(cell, vars.error);
      return vars.error;
    }
    const reply = await executeOnBridge(cell, {
      code: source,
      kernel,
      recordTiming: options.notebookConfig.recordTiming,
      metadata: { ...run.identity, ...run.picked, ...vars.metadata },
      executionCount: run.executionCount()
    });
    if (reply && reply.content.status !== 'ok') {
      return cell.isDisposed
        ? 'gone'
        : (reply.content as Private.IErrorContent);
    }
    // Loaded even when the cell was deleted meanwhile: its code ran, as a
    // deleted cell's code still runs in the kernel.
    const loadError = await varsAfterCell(reply, local);
    if (cell.isDisposed) {
      return 'gone';
    }
    if (loadError) {
      appendVarsError(cell, loadError);
      return loadError;
    }
    return 'ok';
  }

  private _bridge: IClusterBridge;
  private _defaultRunCell: RunCell;
  private _kernelSync = new KernelSettingsSync();
  private _remoteCounts = new RemoteCounter();
  private _running = new Set<Private.IEntry>();
  private _varsOrder = new VarsOrder();
  private _changed = new Signal<this, void>(this);
}

export namespace ClusterCellExecutor {
  export interface IOptions {
    bridge: IClusterBridge;
    /** JupyterLab's `runCell` from @jupyterlab/notebook. */
    defaultRunCell: RunCell;
  }
}

namespace Private {
  export interface IEntry extends IRemoteExecution {
    cell: CodeCell;
  }

  export interface IRunMetadata {
    identity: { [key: string]: string };
    picked: { [key: string]: string };
    /** Taken when the cell is sent: a cell stopped before keeps no number. */
    executionCount: () => number;
  }

  /** Execute metadata naming the notebook, so its cells share one session. */
  export function notebookIdentity(key: string): { [key: string]: string } {
    return key ? { [NOTEBOOK_METADATA_KEY]: key } : {};
  }

  /** The job id from the cell's status output, once the bridge sent it. */
  export function jobIdOf(cell: CodeCell): string | undefined {
    if (cell.isDisposed) {
      return undefined;
    }
    const outputs = cell.model.outputs;
    for (let i = 0; i < outputs.length; i++) {
      const data = outputs.get(i).data[STATUS_MIME] as
        Partial<IStatusPayload> | undefined;
      // Outputs come with the file too: only a well-formed id is used.
      if (data && looksLikeJobId(data.jobId)) {
        return data.jobId;
      }
    }
    return undefined;
  }

  /** Same shape as @jupyterlab/notebook's KernelError, without importing it. */
  export interface IKernelError extends Error {
    errorName: string;
    errorValue: string;
    traceback: string[];
  }

  export interface IErrorContent {
    ename?: string;
    evalue?: string;
    traceback?: string[];
  }

  export function kernelError(content: IErrorContent): IKernelError {
    const err = new Error(
      `KernelReplyNotOK: ${content.ename ?? 'Error'} ${content.evalue ?? ''}`
    ) as IKernelError;
    err.errorName = content.ename ?? 'Error';
    err.errorValue = content.evalue ?? '';
    err.traceback = content.traceback ?? [];
    return err;
  }

  /** A failure before the kernel answered (no kernelspec, server gone). */
  export function showFailure(cell: CodeCell, reason: unknown): void {
    cell.model.executionState = 'idle';
    cell.model.outputs.add({
      output_type: 'error',
      ename: 'ClusterBridgeError',
      evalue: `The Cluster Bridge kernel is not available: ${
        (reason as Error)?.message ?? String(reason)
      }`,
      traceback: []
    });
  }
}
