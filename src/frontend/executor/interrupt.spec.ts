import { NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import { interruptRemoteCells } from './interrupt';

/** A bridge kernel connection that records control messages and plain interrupts. */
class FakeKernel {
  clientId = 'tab-1';
  username = 'me';
  control: any[] = [];
  interrupted = 0;

  sendControlMessage(msg: any) {
    this.control.push(msg);
    return { done: Promise.resolve({ content: { status: 'ok' } }) };
  }

  async interrupt() {
    this.interrupted++;
  }
}

const bridge = (kernel: FakeKernel) => ({ session: { kernel } }) as any;

describe('interruptRemoteCells', () => {
  it('does nothing without remote cells in the notebook', async () => {
    const kernel = new FakeKernel();
    await expect(
      interruptRemoteCells(bridge(kernel), [], 'a.ipynb')
    ).resolves.toBe('none');
    expect(kernel.control).toEqual([]);
    expect(kernel.interrupted).toBe(0);
  });

  it('sends a scoped interrupt naming the notebook and its cells on its own connection, never a kernel-wide one', async () => {
    const kernel = new FakeKernel();
    const mine = [
      { notebook: {}, cellId: 'c1', jobId: 'j1' },
      { notebook: {}, cellId: 'c2' }
    ];
    await expect(
      interruptRemoteCells(bridge(kernel), mine, 'dir/a.ipynb')
    ).resolves.toBe('scoped');
    expect(kernel.interrupted).toBe(0);
    expect(kernel.control).toHaveLength(1);
    const [msg] = kernel.control;
    expect(msg.channel).toBe('control');
    expect(msg.header.msg_type).toBe('interrupt_request');
    expect(msg.header.session).toBe('tab-1');
    expect(msg.content).toEqual({
      cell_ids: ['c1', 'c2'],
      [NOTEBOOK_METADATA_KEY]: 'dir/a.ipynb'
    });
  });
});
