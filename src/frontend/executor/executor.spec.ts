import { NotebookModel } from '@jupyterlab/notebook';
import { quietYjsWarnings } from '../../../tests/support/quietYjs';
import { STATUS_MIME } from '../../shared/mime';
import type { IClusterBridge } from '../tokens';
import { ClusterCellExecutor } from './executor';

/**
 * The executor against real cell and notebook models, a fake bridge kernel
 * (records execute requests, replies when the test says) and a recording
 * default runCell.
 */
class FakeKernel {
  name = 'cluster-bridge';
  requests: { code: string; metadata: any }[] = [];
  hooks: ((msg: any) => boolean)[][] = [];
  interrupted = 0;
  private replies: ((reply: any) => void)[] = [];

  requestExecute(content: { code: string }, _dispose: boolean, metadata: any) {
    this.requests.push({ code: content.code, metadata });
    let resolve!: (reply: any) => void;
    const done = new Promise(r => (resolve = r));
    this.replies.push(resolve);
    const hooks: ((msg: any) => boolean)[] = [];
    this.hooks.push(hooks);
    return {
      done,
      isDisposed: false,
      registerMessageHook: (hook: (msg: any) => boolean) => hooks.push(hook)
    };
  }

  /** iopub messages the kernel "sends" for request `index` (status, execute_input). */
  iopub(index: number, msgType: string, content: any, date: string) {
    for (const hook of this.hooks[index]) {
      hook({ header: { msg_type: msgType, date }, content });
    }
  }

  reply(
    index: number,
    content: any,
    date = '2026-11-28T12:00:05.000Z',
    metadata: any = {}
  ) {
    this.replies[index]({ content, header: { date }, metadata });
  }

  async interrupt() {
    this.interrupted++;
  }
}

function fakeBridge(kernel: FakeKernel, defaultCluster?: string) {
  return {
    defaultCluster,
    session: { kernel },
    ensureStarted: jest.fn(async () => kernel),
    cancelJob: jest.fn(async () => ({ ok: true })),
    notebookKey: (path: string) => (path ? `/srv/lab/${path}` : '')
  } as unknown as IClusterBridge & {
    ensureStarted: jest.Mock;
    cancelJob: jest.Mock;
  };
}

let notebook: NotebookModel;

/** A real cell model inside the notebook model, in a stand-in cell widget. */
function fakeCell(source: string, type: 'code' | 'markdown' = 'code') {
  const index = notebook.cells.length;
  notebook.sharedModel.insertCell(index, { cell_type: type, source });
  const model = notebook.cells.get(index);
  const cell: any = {
    model,
    isDisposed: false,
    outputHidden: true,
    outputArea: { future: null }
  };
  return cell;
}

function options(
  cell: any,
  notebook: NotebookModel,
  kernelName = 'python3',
  recordTiming = false
) {
  const events: string[] = [];
  return {
    events,
    opts: {
      cell,
      notebook,
      notebookConfig: { recordTiming } as any,
      onCellExecuted: (args: any) =>
        events.push(
          `executed:${args.success}${args.error ? ':' + args.error.errorName : ''}`
        ),
      onCellExecutionScheduled: () => events.push('scheduled'),
      sessionContext: {
        session: { kernel: { name: kernelName } },
        kernelPreference: { name: kernelName }
      } as any
    }
  };
}

// yjs warns about cell models built before their document is attached: noise.
quietYjsWarnings();

const flush = () => new Promise(r => setTimeout(r, 0));

describe('ClusterCellExecutor', () => {
  let kernel: FakeKernel;
  let defaultRunCell: jest.Mock;

  beforeEach(() => {
    kernel = new FakeKernel();
    defaultRunCell = jest.fn(async () => true);
    notebook = new NotebookModel();
  });

  it('hands plain cells and markdown to the default runCell untouched', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    for (const cell of [
      fakeCell('print(1)'),
      fakeCell('# %%cluster', 'markdown')
    ]) {
      const { opts } = options(cell, notebook);
      await expect(executor.runCell(opts)).resolves.toBe(true);
      expect(defaultRunCell).toHaveBeenLastCalledWith(opts);
    }
    expect(kernel.requests).toHaveLength(0);
  });

  it('sends %%cluster cells to the bridge kernel, never to the default runCell', async () => {
    const bridge = fakeBridge(kernel);
    const executor = new ClusterCellExecutor({ bridge, defaultRunCell });
    const cell = fakeCell('%%cluster local\nprint(1)');
    const { opts, events } = options(cell, notebook);
    const run = executor.runCell(opts);
    await flush();
    expect(bridge.ensureStarted).toHaveBeenCalled();
    expect(kernel.requests.map(r => r.code)).toEqual([
      '%%cluster local\nprint(1)'
    ]);
    expect(kernel.requests[0].metadata.cellId).toBe(
      cell.model.sharedModel.getId()
    );
    expect(cell.model.executionState).toBe('running');
    expect(cell.outputArea.future).not.toBeNull();
    expect(executor.running(notebook)).toHaveLength(1);

    kernel.reply(0, { status: 'ok', execution_count: 7 });
    await expect(run).resolves.toBe(true);
    // The notebook's first remote cell: [r1], not the bridge kernel's 7.
    expect(cell.model.executionCount).toBe(1);
    expect(events).toEqual(['scheduled', 'executed:true']);
    expect(executor.running()).toHaveLength(0);
    expect(defaultRunCell).not.toHaveBeenCalled();
  });

  it("names the notebook in every %%cluster cell's metadata, by its path at each run", async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const { opts } = options(fakeCell('%%cluster local\nx = 41'), notebook);
    opts.sessionContext.path = 'work/a.ipynb';
    const first = executor.runCell(opts);
    await flush();
    kernel.reply(0, { status: 'ok', execution_count: 1 });
    await first;
    // Renamed between two runs: the second cell says the new path.
    opts.sessionContext.path = 'work/b.ipynb';
    opts.cell = fakeCell('%%cluster local\nprint(x + 1)');
    const second = executor.runCell(opts);
    await flush();
    kernel.reply(1, { status: 'ok', execution_count: 2 });
    await second;
    expect(
      kernel.requests.map(r => r.metadata.cluster_bridge_notebook)
    ).toEqual(['/srv/lab/work/a.ipynb', '/srv/lab/work/b.ipynb']);
  });

  it('lets the bridge-kernel notebook run its cells itself, after sending it the settings and the picked cluster', async () => {
    const settingsSent: any[] = [];
    const notebookKernel = {
      name: 'cluster-bridge',
      createComm: () => {
        const comm: any = {
          isDisposed: false,
          open: () => undefined,
          close: () => (comm.isDisposed = true),
          send: (data: any) => {
            settingsSent.push(data);
            queueMicrotask(() =>
              comm.onMsg({
                content: { data: { id: data.id, ok: true, result: null } }
              })
            );
          }
        };
        return comm;
      }
    };
    const bridge = fakeBridge(kernel);
    (bridge as any).settings = {
      clusters: { local2: { type: 'local' } },
      defaultCluster: 'local',
      gpuCard: true
    };
    const executor = new ClusterCellExecutor({ bridge, defaultRunCell });
    notebook.setMetadata('cluster_bridge', { cluster: 'local2' });
    for (const source of ['%%cluster\nx', 'plain()']) {
      const { opts } = options(fakeCell(source), notebook, 'cluster-bridge');
      opts.sessionContext.session.kernel = notebookKernel;
      await executor.runCell(opts);
      expect(defaultRunCell).toHaveBeenLastCalledWith(opts);
    }
    // Sent once: nothing changed for the second cell.
    expect(settingsSent).toHaveLength(1);
    expect(settingsSent[0]).toMatchObject({
      op: 'settings',
      clusters: { local2: { type: 'local' } },
      defaultCluster: 'local2',
      gpuCard: true
    });
    expect(kernel.requests).toHaveLength(0);
    expect(bridge.ensureStarted).not.toHaveBeenCalled();

    notebook.setMetadata('cluster_bridge', { cluster: 'local' });
    const { opts } = options(fakeCell('x'), notebook, 'cluster-bridge');
    opts.sessionContext.session.kernel = notebookKernel;
    await executor.runCell(opts);
    expect(settingsSent).toHaveLength(2);
    expect(settingsSent[1].defaultCluster).toBe('local');
  });

  it('sends a bare %%cluster as it is, with the picked cluster in the execute metadata', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel, 'local'),
      defaultRunCell
    });
    notebook.setMetadata('cluster_bridge', { cluster: 'local2' });
    void executor.runCell(
      options(fakeCell('%%cluster --gpus 1\nx'), notebook).opts
    );
    await flush();
    expect(kernel.requests[0].code).toBe('%%cluster --gpus 1\nx');
    expect(kernel.requests[0].metadata.cluster_bridge_cluster).toBe('local2');
  });

  it('leaves the default to the bridge, and keeps explicit names', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel, 'local'),
      defaultRunCell
    });
    void executor.runCell(options(fakeCell('%%cluster\nx'), notebook).opts);
    notebook.setMetadata('cluster_bridge', { cluster: 'local2' });
    void executor.runCell(options(fakeCell('%%cluster hpc\nx'), notebook).opts);
    await flush();
    expect(kernel.requests.map(r => r.code)).toEqual([
      '%%cluster\nx',
      '%%cluster hpc\nx'
    ]);
    expect(kernel.requests.map(r => r.metadata.cluster_bridge_cluster)).toEqual(
      [undefined, undefined]
    );
  });

  it.each([
    ["local\nprint('INJECTED')"],
    ['local; rm -rf ~'],
    ['--help'],
    [42],
    [['local']]
  ])(
    'runs nothing when the notebook metadata picks %j, and says so in the cell',
    async value => {
      const bridge = fakeBridge(kernel, 'local');
      const executor = new ClusterCellExecutor({ bridge, defaultRunCell });
      notebook.setMetadata('cluster_bridge', { cluster: value });
      const cell = fakeCell('%%cluster\nprint(1)');
      const { opts, events } = options(cell, notebook);
      await expect(executor.runCell(opts)).rejects.toMatchObject({
        errorName: 'ClusterBridgeError'
      });
      expect(kernel.requests).toHaveLength(0);
      expect(bridge.ensureStarted).not.toHaveBeenCalled();
      expect(defaultRunCell).not.toHaveBeenCalled();
      expect(events).toEqual(['executed:false:ClusterBridgeError']);
      const outputs = cell.model.outputs.toJSON();
      expect(outputs).toHaveLength(1);
      expect(outputs[0]).toMatchObject({
        output_type: 'error',
        ename: 'ClusterBridgeError'
      });
      expect(String(outputs[0].evalue)).toMatch(
        /cluster_bridge\.cluster.*Nothing was run/
      );
      // An explicit name does not use the metadata: it runs.
      void executor.runCell(
        options(fakeCell('%%cluster local\nprint(1)'), notebook).opts
      );
      await flush();
      expect(kernel.requests.map(r => r.code)).toEqual([
        '%%cluster local\nprint(1)'
      ]);
    }
  );

  it('runs no plain cell of a Cluster Bridge notebook whose picked cluster is invalid', async () => {
    const bridge = fakeBridge(kernel);
    const executor = new ClusterCellExecutor({ bridge, defaultRunCell });
    notebook.setMetadata('cluster_bridge', { cluster: 'a b' });
    const cell = fakeCell('print(1)');
    const { opts } = options(cell, notebook, 'cluster-bridge');
    await expect(executor.runCell(opts)).rejects.toThrow(/Nothing was run/);
    expect(defaultRunCell).not.toHaveBeenCalled();
    expect(cell.model.outputs.length).toBe(1);
  });

  it.each([['cluster_bridge_cluster'], ['cluster_bridge_notebook']])(
    'runs no cell whose own metadata holds %s (it would travel with the request)',
    async key => {
      const executor = new ClusterCellExecutor({
        bridge: fakeBridge(kernel),
        defaultRunCell
      });
      for (const kernelName of ['python3', 'cluster-bridge']) {
        const cell = fakeCell('%%cluster local\nx');
        cell.model.setMetadata(key, 'elsewhere');
        const { opts } = options(cell, notebook, kernelName);
        await expect(executor.runCell(opts)).rejects.toThrow(
          new RegExp(`"${key}".*Nothing was run`)
        );
      }
      expect(kernel.requests).toHaveLength(0);
      expect(defaultRunCell).not.toHaveBeenCalled();
    }
  );

  it('numbers remote cells on their own, per notebook', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const local = fakeCell('x = 1');
    (local.model as any).executionCount = 7;
    const first = fakeCell('%%cluster local\na');
    const second = fakeCell('%%cluster local\nb');
    // The bridge kernel's count is its own (other notebooks share it): 40, 41, ...
    const runToEnd = async (cell: any) => {
      const run = executor.runCell(options(cell, notebook).opts);
      await flush();
      const index = kernel.requests.length - 1;
      kernel.reply(index, { status: 'ok', execution_count: 40 + index });
      await run;
    };
    await runToEnd(first);
    await runToEnd(second);
    expect(first.model.executionCount).toBe(1);
    expect(second.model.executionCount).toBe(2);
    // Run again: the next number, never one the notebook shows.
    await runToEnd(first);
    expect(first.model.executionCount).toBe(3);
    expect(local.model.executionCount).toBe(7);
  });

  it("gives a remote result the cell's own count, and side-by-side cells their own", async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const a = fakeCell('%%cluster local\n1');
    const b = fakeCell('%%cluster local\n2');
    const runA = executor.runCell(options(a, notebook).opts);
    const runB = executor.runCell(options(b, notebook).opts);
    await flush();
    const result = {
      header: { msg_type: 'execute_result' },
      content: { execution_count: 40, data: {} }
    };
    for (const hook of kernel.hooks[1]) {
      hook(result);
    }
    expect(result.content.execution_count).toBe(2);
    expect(kernel.requests.map(r => r.metadata.cluster_bridge_count)).toEqual([
      1, 2
    ]);
    kernel.reply(1, { status: 'ok', execution_count: 41 });
    kernel.reply(0, { status: 'ok', execution_count: 40 });
    await Promise.all([runA, runB]);
    expect([a.model.executionCount, b.model.executionCount]).toEqual([1, 2]);
  });

  it("replaces a cell's `execution` metadata that is not an object when it records timing", async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const cell = fakeCell('%%cluster local\nx');
    cell.model.setMetadata('execution', 'abc');
    const run = executor.runCell(options(cell, notebook, 'python3', true).opts);
    await flush();
    kernel.reply(0, { status: 'ok', execution_count: 1 });
    await run;
    expect(Object.keys(cell.model.getMetadata('execution'))).toEqual([
      'shell.execute_reply'
    ]);
  });

  it('records execution timing like JupyterLab when recordTiming is on', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const cell = fakeCell('%%cluster local\nx');
    const run = executor.runCell(options(cell, notebook, 'python3', true).opts);
    await flush();
    kernel.iopub(
      0,
      'status',
      { execution_state: 'busy' },
      '2026-11-28T12:00:01.000Z'
    );
    kernel.iopub(0, 'execute_input', {}, '2026-11-28T12:00:01.100Z');
    kernel.iopub(
      0,
      'stream',
      { name: 'stdout', text: 'x' },
      '2026-11-28T12:00:02.000Z'
    );
    kernel.iopub(
      0,
      'status',
      { execution_state: 'idle' },
      '2026-11-28T12:00:04.900Z'
    );
    kernel.reply(
      0,
      { status: 'ok', execution_count: 4 },
      '2026-11-28T12:00:05.000Z',
      {
        started: '2026-11-28T12:00:01.050Z'
      }
    );
    await run;
    expect(cell.model.getMetadata('execution')).toEqual({
      'iopub.status.busy': '2026-11-28T12:00:01.000Z',
      'iopub.execute_input': '2026-11-28T12:00:01.100Z',
      'iopub.status.idle': '2026-11-28T12:00:04.900Z',
      'shell.execute_reply.started': '2026-11-28T12:00:01.050Z',
      'shell.execute_reply': '2026-11-28T12:00:05.000Z'
    });
  });

  it('records no timing when recordTiming is off', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const cell = fakeCell('%%cluster local\nx');
    cell.model.setMetadata('execution', { stale: true });
    const run = executor.runCell(options(cell, notebook).opts);
    await flush();
    kernel.iopub(
      0,
      'status',
      { execution_state: 'busy' },
      '2026-11-28T12:00:01.000Z'
    );
    kernel.reply(0, { status: 'ok', execution_count: 1 });
    await run;
    expect(cell.model.getMetadata('execution')).toBeUndefined();
  });

  it('runs several remote cells at once (no queue behind the first)', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const a = executor.runCell(
      options(fakeCell('%%cluster local\nsleep()'), notebook).opts
    );
    const b = executor.runCell(
      options(fakeCell('%%cluster local\nquick()'), notebook).opts
    );
    await flush();
    expect(kernel.requests).toHaveLength(2);
    kernel.reply(1, { status: 'ok', execution_count: 2 });
    await expect(b).resolves.toBe(true);
    expect(executor.running(notebook)).toHaveLength(1);
    kernel.reply(0, { status: 'ok', execution_count: 1 });
    await expect(a).resolves.toBe(true);
  });

  it('reports an error reply like the default runCell (KernelReplyNotOK)', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const cell = fakeCell('%%cluster local\n1/0');
    const { opts, events } = options(cell, notebook);
    const run = executor.runCell(opts);
    await flush();
    kernel.reply(0, {
      status: 'error',
      execution_count: 3,
      ename: 'ZeroDivisionError',
      evalue: 'division by zero',
      traceback: []
    });
    await expect(run).rejects.toThrow(/^KernelReplyNotOK: ZeroDivisionError/);
    expect(cell.model.executionCount).toBe(1);
    expect(events).toEqual(['scheduled', 'executed:false:ZeroDivisionError']);
  });

  it('shows an error output when the bridge kernel cannot start', async () => {
    const bridge = fakeBridge(kernel);
    bridge.ensureStarted.mockRejectedValueOnce(
      new Error('No such kernel named cluster-bridge')
    );
    const executor = new ClusterCellExecutor({ bridge, defaultRunCell });
    const cell = fakeCell('%%cluster local\nx');
    const { opts, events } = options(cell, notebook);
    await expect(executor.runCell(opts)).resolves.toBe(false);
    expect(cell.model.outputs.length).toBe(1);
    expect(cell.model.outputs.get(0).toJSON()).toMatchObject({
      output_type: 'error',
      ename: 'ClusterBridgeError'
    });
    expect(events).toEqual(['scheduled', 'executed:false']);
  });

  it('finds the job id of a running cell in its status output', async () => {
    const executor = new ClusterCellExecutor({
      bridge: fakeBridge(kernel),
      defaultRunCell
    });
    const cell = fakeCell('%%cluster local\nx');
    void executor.runCell(options(cell, notebook).opts);
    await flush();
    expect(executor.running(notebook)[0].jobId).toBeUndefined();
    cell.model.outputs.add({
      output_type: 'display_data',
      data: {
        [STATUS_MIME]: { jobId: 'j-9', cluster: 'local', phase: 'running' }
      },
      metadata: {}
    } as any);
    expect(executor.running(notebook)[0].jobId).toBe('j-9');
  });
});
