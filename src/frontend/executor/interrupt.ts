/**
 * Interrupt for remote cells. The notebook's stop button and I,I run
 * `notebook:interrupt-kernel`, which only reaches the notebook's own kernel;
 * this follows that command and cancels the notebook's remote cells too.
 */
import type { IClusterBridge, IRemoteExecution } from '../tokens';

export const INTERRUPT_COMMAND = 'notebook:interrupt-kernel';

/**
 * Cancel the remote cells of one notebook. When every remote cell in flight
 * belongs to it, a kernel interrupt does it (the bridge cancels the job of
 * each running cell); otherwise cancel by job id so other notebooks' cells
 * keep running. Returns what was done, for logs and tests.
 */
export async function interruptRemoteCells(
  bridge: Pick<IClusterBridge, 'session' | 'cancelJob'>,
  mine: IRemoteExecution[],
  all: IRemoteExecution[]
): Promise<'none' | 'interrupt' | 'cancel'> {
  if (!mine.length) {
    return 'none';
  }
  const onlyMine = all.every(e => mine.includes(e));
  const withoutId = mine.some(e => !e.jobId);
  if (onlyMine || withoutId) {
    await bridge.session?.kernel?.interrupt();
    return 'interrupt';
  }
  await Promise.all(
    mine.map(e => bridge.cancelJob(e.jobId!).catch(() => undefined))
  );
  return 'cancel';
}
