/**
 * Run one code cell on the bridge kernel, into the cell's own output area.
 * Mirrors `CodeCell.execute` (execution count, `execution` timing metadata,
 * prompt state) but sends the code it is given to the kernel it is given, so
 * the notebook's own session is never touched. Also writes the refusal of a
 * cell that must not run.
 */
import type { CodeCell } from '@jupyterlab/cells';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { COUNT_METADATA_KEY } from '../../shared/magic';

export interface IExecuteOnBridgeOptions {
  /** Source to send: the cell's own, never rewritten. */
  code: string;
  kernel: Kernel.IKernelConnection;
  /** Record `execution` timing metadata like JupyterLab (notebook setting). */
  recordTiming?: boolean;
  /** Extra execute_request metadata. */
  metadata?: { [key: string]: unknown };
  /** The count the cell and its result show, instead of the kernel's. */
  executionCount?: number;
}

export async function executeOnBridge(
  cell: CodeCell,
  options: IExecuteOnBridgeOptions
): Promise<KernelMessage.IExecuteReplyMsg | undefined> {
  const { code, kernel, recordTiming } = options;
  const model = cell.model;
  if (!code.trim()) {
    model.sharedModel.transact(() => model.clearExecution(), false);
    return undefined;
  }
  const ownCount = options.executionCount;
  const metadata = {
    ...model.metadata,
    ...(options.metadata ?? {}),
    // So the remote traceback names the cell as its prompt does.
    ...(ownCount !== undefined ? { [COUNT_METADATA_KEY]: ownCount } : {}),
    cellId: model.sharedModel.getId()
  };
  model.sharedModel.transact(
    () => {
      model.clearExecution();
      cell.outputHidden = false;
    },
    false,
    'silent-change'
  );
  model.executionState = 'running';
  model.trusted = true;
  const tags = model.getMetadata('tags');
  const stopOnError = !(
    Array.isArray(tags) && tags.includes('raises-exception')
  );

  let future:
    | Kernel.IShellFuture<
        KernelMessage.IExecuteRequestMsg,
        KernelMessage.IExecuteReplyMsg
      >
    | undefined;
  try {
    const f = (future = kernel.requestExecute(
      { code, stop_on_error: stopOnError, allow_stdin: true },
      false,
      metadata as never
    ));
    // The output area renders iopub (incl. update_display_data) and stdin.
    cell.outputArea.future = f;
    if (ownCount !== undefined) {
      // The result's `Out` number is the cell's own, before the output area sees it.
      f.registerMessageHook(msg => {
        if (msg.header.msg_type === 'execute_result') {
          (msg.content as { execution_count: number }).execution_count =
            ownCount;
        }
        return true;
      });
    }
    if (recordTiming) {
      f.registerMessageHook(msg => {
        const label = Private.timingLabel(msg);
        if (label) {
          Private.setTiming(model, label, msg.header.date);
        }
        return true;
      });
    } else {
      model.deleteMetadata('execution');
    }
    const reply = await f.done;
    if (cell.isDisposed) {
      return reply;
    }
    const count = reply.content.execution_count;
    if (count !== null && count !== undefined) {
      model.executionCount = options.executionCount ?? count;
    } else {
      model.executionState = 'idle';
    }
    if (recordTiming) {
      const started = (reply.metadata as { started?: string }).started;
      if (started) {
        Private.setTiming(model, 'shell.execute_reply.started', started);
      }
      Private.setTiming(model, 'shell.execute_reply', reply.header.date);
    }
    return reply;
  } catch (err) {
    if (future && !cell.isDisposed && cell.outputArea.future === future) {
      model.executionState = 'idle';
      if (recordTiming && future.isDisposed) {
        Private.setTiming(model, 'execution_failed', undefined);
      }
    }
    throw err;
  }
}

/**
 * A cell that must not run: its old outputs go, an error output says why,
 * and no kernel hears of it.
 */
export function showRefusal(cell: CodeCell, message: string): void {
  const model = cell.model;
  model.sharedModel.transact(() => model.clearExecution(), false);
  cell.outputHidden = false;
  model.executionState = 'idle';
  model.outputs.add({
    output_type: 'error',
    ename: 'ClusterBridgeError',
    evalue: message,
    traceback: [`ClusterBridgeError: ${message}`]
  });
}

namespace Private {
  export function timingLabel(msg: KernelMessage.IMessage): string | null {
    switch (msg.header.msg_type) {
      case 'status':
        return `iopub.status.${
          (msg as KernelMessage.IStatusMsg).content.execution_state
        }`;
      case 'execute_input':
        return 'iopub.execute_input';
      default:
        return null;
    }
  }

  export function setTiming(
    model: CodeCell['model'],
    key: string,
    date: string | undefined
  ): void {
    // The cell's own `execution` entry came with the file: kept only if it is an object.
    const current = model.getMetadata('execution');
    const timing: { [key: string]: unknown } =
      current && typeof current === 'object' && !Array.isArray(current)
        ? { ...current }
        : {};
    timing[key] = date || new Date().toISOString();
    model.setMetadata('execution', timing);
  }
}
