/**
 * A notebook whose own kernel is the bridge runs its cells there, through
 * JupyterLab's runCell. So that the picker and the JupyterLab settings mean
 * the same there as everywhere else, that kernel gets the `settings` comm op
 * (clusters, gpuCard, and the picked cluster as its default) before a cell
 * runs, whenever what it should know changed.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { COMM_TARGET } from '../../shared/comm';
import { CommClient } from '../bridge/comm';
import type { IBridgeSettings } from '../tokens';

export class KernelSettingsSync {
  /** Send unless this kernel already has exactly these settings. */
  async sync(
    kernel: Kernel.IKernelConnection,
    settings: IBridgeSettings,
    picked: string | undefined
  ): Promise<void> {
    const body = {
      op: 'settings' as const,
      clusters: settings.clusters,
      defaultCluster: picked || settings.defaultCluster || undefined,
      gpuCard: settings.gpuCard
    };
    const key = JSON.stringify(body);
    if (this._sent.get(kernel) === key) {
      return;
    }
    const comm = kernel.createComm(COMM_TARGET);
    const client = new CommClient(
      {
        send: data => void comm.send(data as never),
        setHandlers: ({ onMessage, onClose }) => {
          comm.onMsg = (msg: KernelMessage.ICommMsgMsg) =>
            onMessage(msg.content.data);
          comm.onClose = () => onClose();
        },
        close: () => {
          if (!comm.isDisposed) {
            comm.close();
          }
        }
      },
      { timeout: 15_000 }
    );
    comm.open({});
    try {
      await client.request(body);
      this._sent.set(kernel, key);
    } finally {
      client.dispose();
    }
  }

  private _sent = new WeakMap<Kernel.IKernelConnection, string>();
}
