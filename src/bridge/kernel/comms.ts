/**
 * The comms open on the kernel: comm_open to a handler's target, comm_msg to
 * the comm's listener, comm_close from either side, and the comm_info list.
 * What the kernel sends on a comm goes out on iopub, parented to the comm's
 * latest message.
 */
import type { CommTarget, IComm } from './handler';
import type { IMessage, JSONObject } from './wire';

export class KernelComms {
  constructor(options: KernelComms.IOptions) {
    this._targets = options.targets;
    this._iopub = options.iopub;
    this._log = options.log;
  }

  /** comm_info_reply's `comms`, for one target name or all. */
  info(targetName?: string): { [id: string]: { target_name: string } } {
    const comms: { [id: string]: { target_name: string } } = {};
    for (const comm of this._comms.values()) {
      if (!targetName || comm.targetName === targetName) {
        comms[comm.id] = { target_name: comm.targetName };
      }
    }
    return comms;
  }

  open(msg: IMessage): void {
    const c = msg.content;
    const id = Private.str(c.comm_id);
    const targetName = Private.str(c.target_name);
    const target = this._targets[targetName];
    if (!id || !target) {
      this._log(`comm_open for unknown target ${JSON.stringify(targetName)}`);
      // The spec: close at once so both sides agree the comm does not exist.
      this._iopub(msg, 'comm_close', { comm_id: id, data: {} });
      return;
    }
    const comm = this._makeComm(id, targetName, msg);
    this._comms.set(id, comm);
    try {
      target(comm, Private.obj(c.data));
    } catch (err) {
      this._log(
        `comm target ${targetName} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
      );
    }
  }

  async message(msg: IMessage): Promise<void> {
    const id = Private.str(msg.content.comm_id);
    const comm = this._comms.get(id);
    if (!comm) {
      this._log(`comm_msg for unknown comm ${JSON.stringify(id)}`);
      return;
    }
    comm.parent = msg;
    await comm.onMsg?.(Private.obj(msg.content.data));
  }

  close(msg: IMessage): void {
    const id = Private.str(msg.content.comm_id);
    const comm = this._comms.get(id);
    if (!comm) {
      return;
    }
    this._comms.delete(id);
    comm.closed = true;
    comm.onClose?.(Private.obj(msg.content.data));
  }

  private _makeComm(
    id: string,
    targetName: string,
    parent: IMessage
  ): Private.IOpenComm {
    const comm: Private.IOpenComm = {
      id,
      targetName,
      parent,
      closed: false,
      send: data => {
        if (!comm.closed) {
          this._iopub(comm.parent, 'comm_msg', { comm_id: id, data });
        }
      },
      close: data => {
        if (!comm.closed) {
          comm.closed = true;
          this._comms.delete(id);
          this._iopub(comm.parent, 'comm_close', {
            comm_id: id,
            data: data ?? {}
          });
        }
      }
    };
    return comm;
  }

  private _targets: { [target: string]: CommTarget };
  private _iopub: KernelComms.IOptions['iopub'];
  private _log: (text: string) => void;
  private _comms = new Map<string, Private.IOpenComm>();
}

export namespace KernelComms {
  export interface IOptions {
    /** The handler's comm targets, by target name. */
    targets: { [target: string]: CommTarget };
    /** Sends one iopub message with the given parent. */
    iopub: (parent: IMessage, type: string, content: JSONObject) => void;
    log: (text: string) => void;
  }
}

namespace Private {
  export interface IOpenComm extends IComm {
    /** The latest message of this comm: parent of what the kernel sends on it. */
    parent: IMessage;
    closed: boolean;
  }

  export function str(v: unknown): string {
    return typeof v === 'string' ? v : '';
  }

  export function obj(v: unknown): JSONObject {
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as JSONObject)
      : {};
  }
}
