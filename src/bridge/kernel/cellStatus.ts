/**
 * The live status of running cells, sent beside them instead of into them:
 * a `cellStatus` push (src/shared/comm.ts) on every open `cluster_bridge`
 * comm. The frontend shows it as the cell's status badge; saved notebooks
 * keep only what the code produced.
 */
import type { CommPush } from '../../shared/comm';
import type { IStatusPayload } from '../../shared/mime';
import type { IOutputSink } from '../jobs/types';
import type { ICellStatusSink } from '../jobs/status';
import type { IComm } from './handler';
import type { IMessage, JSONObject } from './wire';

export class CellStatusHub {
  /** Frontend comms that get the pushes until they close; returns the remover. */
  add(comm: IComm): () => void {
    this._comms.add(comm);
    const onClose = comm.onClose;
    comm.onClose = data => {
      this._comms.delete(comm);
      onClose?.(data);
    };
    return () => this._comms.delete(comm);
  }

  /** The cell's sink, with its status sent to the comms open at the time. */
  sinkFor(request: IMessage, sink: IOutputSink): ICellStatusSink {
    const cellId = request.metadata?.cellId;
    return {
      ...sink,
      cellStatus: status =>
        this._push({
          event: 'cellStatus',
          msgId: request.header.msg_id,
          ...(typeof cellId === 'string' ? { cellId } : {}),
          status
        })
    };
  }

  /** False when no frontend listens (the status may then become an output). */
  private _push(push: CommPush & { status: IStatusPayload }): boolean {
    for (const comm of this._comms) {
      comm.send(push as unknown as JSONObject);
    }
    return this._comms.size > 0;
  }

  private _comms = new Set<IComm>();
}
