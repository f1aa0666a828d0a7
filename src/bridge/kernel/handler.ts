/**
 * The contract between the kernel core (the Jupyter protocol) and its handler
 * (what a cell does: the bridge's ClusterCells): execute contexts and
 * outcomes, editor help results, and comms as a handler sees them.
 */
import type { IOutputSink } from '../jobs/types';
import type { IPrompter } from '../transport/types';
import type { MimeBundle } from '../../shared/events';
import type { IMessage, JSONObject } from './wire';

/** Everything one execute request gives its handler. */
export interface IExecuteContext {
  code: string;
  executionCount: number;
  silent: boolean;
  storeHistory: boolean;
  allowStdin: boolean;
  /** Aborted by interrupt_request (and on shutdown of the running cell). */
  signal: AbortSignal;
  /** Outputs of this cell, published on iopub with this request as parent. */
  sink: IOutputSink;
  /** input_request on stdin with this request as parent. */
  prompter: IPrompter;
  /** The raw request, for handlers that need its metadata. */
  request: IMessage;
}

export interface IExecuteError {
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface IExecuteOutcome {
  status: 'ok' | 'error' | 'aborted';
  /** Extra execute_reply metadata (the `--out` step, src/shared/data.ts). */
  metadata?: JSONObject;
}

export interface ICompleteResult {
  matches: string[];
  cursor_start: number;
  cursor_end: number;
  metadata?: JSONObject;
}

export interface IInspectResult {
  found: boolean;
  data: MimeBundle;
  metadata?: JSONObject;
}

export interface IIsCompleteResult {
  status: 'complete' | 'incomplete' | 'invalid' | 'unknown';
  indent?: string;
}

/** A comm as the handler sees it. */
export interface IComm {
  readonly id: string;
  readonly targetName: string;
  send(data: JSONObject): void;
  close(data?: JSONObject): void;
  /** Set by the target to receive comm_msg data. */
  onMsg?: (data: JSONObject) => void | Promise<void>;
  onClose?: (data: JSONObject) => void;
}

export type CommTarget = (comm: IComm, data: JSONObject) => void;

/** What a language does; the core does the protocol. */
export interface IKernelHandler {
  execute(context: IExecuteContext): Promise<IExecuteOutcome>;
  complete(
    code: string,
    cursorPos: number
  ): ICompleteResult | Promise<ICompleteResult>;
  inspect(
    code: string,
    cursorPos: number,
    detailLevel: number
  ): IInspectResult | Promise<IInspectResult>;
  isComplete(code: string): IIsCompleteResult;
  /** Comm targets this handler serves, by target name. */
  commTargets(): { [target: string]: CommTarget };
  /** A shutdown_request (on purpose, restart or not), before the reply: end what lives with the kernel. */
  shutdown?(restart: boolean): Promise<void>;
  /** Called once on shutdown_request: close connections; detached jobs keep running. */
  dispose(): Promise<void>;
}
