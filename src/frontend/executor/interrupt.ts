/**
 * Interrupt for remote cells. The notebook's stop button and I,I run
 * `notebook:interrupt-kernel`, which only reaches the notebook's own kernel;
 * this follows that command and stops this notebook's remote cells too.
 * Every notebook and browser tab shares one bridge kernel, so a plain
 * kernel interrupt would stop all of their cells: this sends a scoped
 * interrupt_request (src/shared/interrupt.ts) that names the notebook and
 * its cells, on this tab's own connection (the kernel stops only the cells
 * that connection started).
 */
import { KernelMessage } from '@jupyterlab/services';
import { type IInterruptScope } from '../../shared/interrupt';
import { NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import type { IClusterBridge, IRemoteExecution } from '../tokens';

export const INTERRUPT_COMMAND = 'notebook:interrupt-kernel';

/**
 * Stops the remote cells of one notebook (`mine`: its cells in flight from
 * this tab; `notebookPath`: its path, as its execute requests name it).
 * Returns what was done, for logs and tests.
 */
export async function interruptRemoteCells(
  bridge: Pick<IClusterBridge, 'session'>,
  mine: IRemoteExecution[],
  notebookPath?: string
): Promise<'none' | 'scoped'> {
  const kernel = bridge.session?.kernel;
  if (!mine.length || !kernel) {
    return 'none';
  }
  const scope: IInterruptScope = {
    cell_ids: mine.map(e => e.cellId),
    ...(notebookPath ? { [NOTEBOOK_METADATA_KEY]: notebookPath } : {})
  };
  const msg = KernelMessage.createMessage({
    msgType: 'interrupt_request',
    channel: 'control',
    session: kernel.clientId,
    username: kernel.username,
    content: scope as KernelMessage.IInterruptRequestMsg['content']
  });
  await kernel.sendControlMessage(msg, true, true).done;
  return 'scoped';
}
