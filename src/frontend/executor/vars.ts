/**
 * The notebook-kernel half of `--in`/`--out` and `%cluster push/pull`
 * (src/shared/data.ts): before a cell the bridge names a private folder and
 * the code that writes the `--in` values there, which runs silently in the
 * notebook's own kernel; after the cell the reply may carry the code that
 * loads the `--out` values, which runs there too. The bytes stay on the
 * server host: nothing here touches them.
 */
import type { CodeCell } from '@jupyterlab/cells';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import {
  VARS_IN_METADATA_KEY,
  VARS_OUT_METADATA_KEY,
  type IVarsLocalStep
} from '../../shared/data';
import { parseCell } from '../../shared/magic';
import type { IClusterBridge } from '../tokens';

/** What a cell moves between the notebook's kernel and the cluster. */
export interface ICellVars {
  /** Names sent from the notebook's kernel before the cell (`--in`, push). */
  inNames: string[];
  /** Names set in the notebook's kernel after the cell (`--out`, pull). */
  outNames: string[];
}

/** An error as a kernel reports it (execute_reply / `error` output). */
export interface IVarsError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** The variables a cell moves, or null when it moves none (or does not parse). */
export function cellVars(source: string): ICellVars | null {
  const parsed = parseCell(source);
  let vars: ICellVars | null = null;
  if (parsed.kind === 'cluster') {
    vars = {
      inNames: parsed.request.inVars ?? [],
      outNames: parsed.request.outVars ?? []
    };
  } else if (parsed.kind === 'line' && parsed.command === 'push') {
    vars = { inNames: parsed.args.slice(1), outNames: [] };
  } else if (parsed.kind === 'line' && parsed.command === 'pull') {
    vars = { inNames: [], outNames: parsed.args.slice(1) };
  }
  return vars && (vars.inNames.length || vars.outNames.length) ? vars : null;
}

export interface IVarsBeforeOptions {
  bridge: Pick<IClusterBridge, 'varsExport'>;
  /** The notebook's own kernel; null when it has none running. */
  local: Kernel.IKernelConnection | null | undefined;
  /** The notebook as the bridge keys its sessions. */
  notebook: string;
}

/**
 * The step before a cell is sent: writes its `--in` values through the
 * notebook's kernel and returns the execute-request metadata, or the error
 * that must stop the cell (nothing is sent then).
 */
export async function varsBeforeCell(
  source: string,
  options: IVarsBeforeOptions
): Promise<{ metadata: { [key: string]: unknown } } | { error: IVarsError }> {
  const { local } = options;
  const vars = cellVars(source);
  if (!local) {
    return vars ? { error: Private.noLocalKernel(vars) } : { metadata: {} };
  }
  // Any cell may end with values to load (pull, --out): say this client can.
  const metadata: { [key: string]: unknown } = {
    [VARS_OUT_METADATA_KEY]: true
  };
  if (!vars?.inNames.length) {
    return { metadata };
  }
  let step: IVarsLocalStep;
  try {
    step = Private.checkStep(
      await options.bridge.varsExport(vars.inNames, options.notebook)
    );
  } catch (err) {
    return {
      error: Private.bridgeError(
        `the Cluster Bridge kernel could not prepare --in ${vars.inNames.join(',')}: ${
          (err as Error)?.message ?? String(err)
        }`
      )
    };
  }
  const error = await runSilently(local, step.code);
  if (error?.ename === 'KeyboardInterrupt') {
    return { error: Private.interrupted(vars.inNames) };
  }
  if (error) {
    return { error };
  }
  metadata[VARS_IN_METADATA_KEY] = step.dir;
  return { metadata };
}

/**
 * The step after a reply: loads the `--out` values it names into the
 * notebook's kernel. Null when there was nothing to load or it loaded.
 */
export async function varsAfterCell(
  reply: KernelMessage.IExecuteReplyMsg | undefined,
  local: Kernel.IKernelConnection | null | undefined
): Promise<IVarsError | null> {
  const value = (reply?.metadata as { [key: string]: unknown } | undefined)?.[
    VARS_OUT_METADATA_KEY
  ];
  if (value === undefined || value === null || value === true) {
    return null;
  }
  if (!local) {
    return Private.bridgeError(
      "the --out values could not be loaded: this notebook's kernel is gone"
    );
  }
  let step: IVarsLocalStep;
  try {
    step = Private.checkStep(value);
  } catch (err) {
    return Private.bridgeError((err as Error).message);
  }
  return runSilently(local, step.code);
}

/**
 * Runs code in the notebook's kernel without a trace: no output, no history,
 * no prompt number. It queues behind the kernel's other requests like any
 * execute. Resolves with the error it raised, or null.
 */
export async function runSilently(
  kernel: Kernel.IKernelConnection,
  code: string
): Promise<IVarsError | null> {
  const future = kernel.requestExecute(
    {
      code,
      silent: true,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    },
    true
  );
  const reply = await future.done;
  const content = reply.content;
  if (content.status === 'ok') {
    return null;
  }
  if (content.status === 'error') {
    // The kernel's traceback shows the step's own code (the codec), never
    // the user's: the error's name and message say it all.
    const { ename, evalue } = content;
    return {
      ename,
      evalue,
      traceback: [evalue ? `${ename}: ${evalue}` : ename]
    };
  }
  return Private.bridgeError(
    "the notebook's kernel did not run the variables step (it was aborted: an earlier cell failed)"
  );
}

/** A cell stopped before it was sent: old outputs go, the error shows. */
export function showVarsError(cell: CodeCell, error: IVarsError): void {
  const model = cell.model;
  model.sharedModel.transact(() => model.clearExecution(), false);
  cell.outputHidden = false;
  model.executionState = 'idle';
  appendVarsError(cell, error);
}

/** An error after the cell ran (its `--out` values did not load): added below its outputs. */
export function appendVarsError(cell: CodeCell, error: IVarsError): void {
  cell.model.outputs.add({
    output_type: 'error',
    ename: error.ename,
    evalue: error.evalue,
    traceback: error.traceback.length
      ? error.traceback
      : [`${error.ename}: ${error.evalue}`]
  });
}

namespace Private {
  export function bridgeError(message: string): IVarsError {
    return {
      ename: 'ClusterBridgeError',
      evalue: message,
      traceback: [`ClusterBridgeError: ${message}`]
    };
  }

  export function interrupted(names: string[]): IVarsError {
    const evalue = `interrupted while this notebook's kernel wrote --in ${names.join(',')}; nothing was sent`;
    return {
      ename: 'KeyboardInterrupt',
      evalue,
      traceback: [`KeyboardInterrupt: ${evalue}`]
    };
  }

  export function noLocalKernel(vars: ICellVars): IVarsError {
    const what = [
      vars.inNames.length ? `--in ${vars.inNames.join(',')}` : '',
      vars.outNames.length ? `--out ${vars.outNames.join(',')}` : ''
    ]
      .filter(Boolean)
      .join(' and ');
    return bridgeError(
      `${what} moves variables of this notebook's own kernel, which is not running. ` +
        'Start it (Kernel > Restart Kernel, or pick a kernel) and run the cell again. Nothing was sent.'
    );
  }

  /** The bridge's step, checked: it is run as code in the user's kernel. */
  export function checkStep(value: unknown): IVarsLocalStep {
    const step = value as Partial<IVarsLocalStep> | null;
    if (
      !step ||
      typeof step !== 'object' ||
      typeof step.dir !== 'string' ||
      !step.dir ||
      typeof step.code !== 'string'
    ) {
      throw new Error(
        'the Cluster Bridge kernel sent a malformed variables step (needs {dir, code}); is the bridge older than this extension?'
      );
    }
    return { dir: step.dir, code: step.code };
  }
}
