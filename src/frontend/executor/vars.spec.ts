import { NotebookModel } from '@jupyterlab/notebook';
import { quietYjsWarnings } from '../../../tests/support/quietYjs';
import { VARS_IN_METADATA_KEY, VARS_OUT_METADATA_KEY } from '../../shared/data';
import type { IClusterBridge } from '../tokens';
import { ClusterCellExecutor } from './executor';
import { refusal } from './routing';
import { cellVars, runSilently, varsAfterCell, varsBeforeCell } from './vars';
import { VarsOrder } from './varsOrder';

/**
 * The variables step against real cell and notebook models, with two fake
 * kernels that answer when the test says: the notebook's own (Python) kernel
 * and the bridge kernel. Both record what they were asked, in one shared log,
 * so the tests see the order of the steps across the two.
 */
type Reply = { content: any; metadata?: any };

class FakeKernel {
  requests: { content: any; metadata: any }[] = [];
  private pending: {
    resolve: (reply: Reply) => void;
    reject: (err: Error) => void;
  }[] = [];

  constructor(
    readonly name: string,
    private log: string[]
  ) {}

  requestExecute(content: any, _dispose: boolean, metadata: any = {}) {
    this.requests.push({ content, metadata });
    this.log.push(`${this.name}:${content.code}`);
    let resolve!: (reply: Reply) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<Reply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.pending.push({ resolve, reject });
    return {
      done: done.then(r => ({
        content: r.content,
        metadata: r.metadata ?? {},
        header: { date: '2026-12-05T00:00:00.000Z' }
      })),
      isDisposed: false,
      registerMessageHook: () => undefined
    };
  }

  /** Answers the oldest request not answered yet. */
  answer(content: any, metadata: any = {}) {
    const next = this.pending.shift();
    if (!next) {
      throw new Error(`${this.name}: nothing to answer`);
    }
    next.resolve({ content, metadata });
  }

  /** What a restart does to the requests in flight (JupyterLab's wording). */
  cancel() {
    this.pending
      .shift()
      ?.reject(
        new Error(
          'Canceled future for execute_request message before replies were done'
        )
      );
  }

  get waiting(): number {
    return this.pending.length;
  }
}

const ok = { status: 'ok', execution_count: 1 };
const exportStep = { dir: '/tmp/cb-vars-in-1', code: 'EXPORT a' };
const importStep = { dir: '/tmp/cb-vars-out-1', code: 'IMPORT b' };

/** Polls the event loop until `predicate` holds (fake kernels answer on the test's word). */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) {
    await new Promise(r => setTimeout(r, 0));
  }
  if (!predicate()) {
    throw new Error('condition never held');
  }
}

// yjs warns about cell models built before their document is attached: noise.
quietYjsWarnings();

describe('cellVars', () => {
  it('reads --in/--out of a %%cluster line and the names of push/pull', () => {
    expect(cellVars('%%cluster local --in a,b --out c\nc = a + b')).toEqual({
      inNames: ['a', 'b'],
      outNames: ['c']
    });
    expect(cellVars('%cluster push local a,b')).toEqual({
      inNames: ['a', 'b'],
      outNames: []
    });
    expect(cellVars('%cluster pull local c')).toEqual({
      inNames: [],
      outNames: ['c']
    });
  });

  it('is null for cells that move nothing or do not parse', () => {
    expect(cellVars('%%cluster local\nx = 1')).toBeNull();
    expect(cellVars('%cluster jobs')).toBeNull();
    expect(cellVars('print(1)')).toBeNull();
    expect(cellVars('%%cluster local --in\nx')).toBeNull();
  });
});

describe('cell metadata', () => {
  it.each([VARS_IN_METADATA_KEY, VARS_OUT_METADATA_KEY])(
    'refuses a cell that carries %s itself (a notebook could name any folder to send)',
    key => {
      for (const kernel of ['python3', 'cluster-bridge']) {
        expect(
          refusal('%%cluster local\nx', kernel, { kind: 'default' }, [key])
        ).toMatch(/Nothing was run/);
      }
    }
  );
});

describe('varsBeforeCell / varsAfterCell', () => {
  let log: string[];
  let local: FakeKernel;
  let bridge: { varsExport: jest.Mock };

  beforeEach(() => {
    log = [];
    local = new FakeKernel('python3', log);
    bridge = { varsExport: jest.fn(async () => exportStep) };
  });

  it('exports --in names through the notebook kernel, silently, then names the folder', async () => {
    const before = varsBeforeCell('%%cluster local --in a,b\nx', {
      bridge,
      local: local as any,
      notebook: '/srv/lab/n.ipynb'
    });
    await until(() => local.waiting === 1);
    expect(bridge.varsExport).toHaveBeenCalledWith(
      ['a', 'b'],
      '/srv/lab/n.ipynb'
    );
    // No output, no history, no prompt number, no input box in the user's notebook.
    expect(local.requests[0].content).toEqual({
      code: 'EXPORT a',
      silent: true,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    });
    local.answer({ status: 'ok' });
    await expect(before).resolves.toEqual({
      metadata: {
        [VARS_IN_METADATA_KEY]: exportStep.dir,
        [VARS_OUT_METADATA_KEY]: true
      }
    });
  });

  it('says it can load outputs for any cell when the notebook has a kernel, and asks nothing', async () => {
    await expect(
      varsBeforeCell('%%cluster local\nx', {
        bridge,
        local: local as any,
        notebook: 'n'
      })
    ).resolves.toEqual({ metadata: { [VARS_OUT_METADATA_KEY]: true } });
    await expect(
      varsBeforeCell('%%cluster local\nx', {
        bridge,
        local: null,
        notebook: 'n'
      })
    ).resolves.toEqual({ metadata: {} });
    expect(bridge.varsExport).not.toHaveBeenCalled();
    expect(local.requests).toHaveLength(0);
  });

  it("returns the notebook kernel's own error (an unknown name) and no metadata", async () => {
    const before = varsBeforeCell('%cluster push local nope', {
      bridge,
      local: local as any,
      notebook: 'n'
    });
    await until(() => local.waiting === 1);
    local.answer({
      status: 'error',
      ename: 'NameError',
      evalue: "--in: name 'nope' is not defined in this notebook",
      traceback: ['Traceback ...', '(lambda __cb: exec(compile(CODEC ...']
    });
    // The step's own code stays out of sight: name and message only.
    await expect(before).resolves.toEqual({
      error: {
        ename: 'NameError',
        evalue: "--in: name 'nope' is not defined in this notebook",
        traceback: [
          "NameError: --in: name 'nope' is not defined in this notebook"
        ]
      }
    });
  });

  it('refuses --in/--out clearly when the notebook has no kernel running', async () => {
    const result = await varsBeforeCell('%%cluster local --in a --out b\nx', {
      bridge,
      local: null,
      notebook: 'n'
    });
    expect(result).toMatchObject({ error: { ename: 'ClusterBridgeError' } });
    expect((result as any).error.evalue).toMatch(
      /--in a and --out b .*not running.*Nothing was sent/
    );
    expect(bridge.varsExport).not.toHaveBeenCalled();
  });

  it('runs no code from a malformed bridge answer, and says why', async () => {
    bridge.varsExport.mockResolvedValueOnce({ dir: '', code: 'EXPORT a' });
    const result = await varsBeforeCell('%cluster push local a', {
      bridge,
      local: local as any,
      notebook: 'n'
    });
    expect((result as any).error.evalue).toMatch(/malformed variables step/);
    bridge.varsExport.mockRejectedValueOnce(new Error('unknown op'));
    const failed = await varsBeforeCell('%cluster push local a', {
      bridge,
      local: local as any,
      notebook: 'n'
    });
    expect((failed as any).error.evalue).toMatch(
      /could not prepare --in a: unknown op/
    );
    expect(local.requests).toHaveLength(0);
  });

  it('loads --out values when the reply carries a step, and only then', async () => {
    const reply = (metadata: any) => ({ content: ok, metadata }) as any;
    await expect(varsAfterCell(reply({}), local as any)).resolves.toBeNull();
    await expect(
      varsAfterCell(reply({ [VARS_OUT_METADATA_KEY]: true }), local as any)
    ).resolves.toBeNull();
    expect(local.requests).toHaveLength(0);

    const after = varsAfterCell(
      reply({ [VARS_OUT_METADATA_KEY]: importStep }),
      local as any
    );
    await until(() => local.waiting === 1);
    expect(local.requests[0].content.code).toBe('IMPORT b');
    expect(local.requests[0].content.silent).toBe(true);
    local.answer({ status: 'ok' });
    await expect(after).resolves.toBeNull();

    await expect(
      varsAfterCell(
        reply({ [VARS_OUT_METADATA_KEY]: { code: 'x' } }),
        local as any
      )
    ).resolves.toMatchObject({ ename: 'ClusterBridgeError' });
    expect(local.requests).toHaveLength(1);
  });

  it('treats an aborted silent execute as an error', async () => {
    const run = runSilently(local as any, 'x');
    await until(() => local.waiting === 1);
    local.answer({ status: 'aborted' });
    await expect(run).resolves.toMatchObject({
      ename: 'ClusterBridgeError',
      evalue: expect.stringMatching(/aborted/)
    });
  });
});

describe('ClusterCellExecutor with --in/--out', () => {
  let log: string[];
  let local: FakeKernel;
  let remote: FakeKernel;
  let bridge: IClusterBridge & { varsExport: jest.Mock };
  let defaultRunCell: jest.Mock;
  let notebook: NotebookModel;
  // One per test, shared by the cells it runs (the run order lives in it).
  let executor: ClusterCellExecutor;

  beforeEach(() => {
    log = [];
    local = new FakeKernel('python3', log);
    remote = new FakeKernel('cluster-bridge', log);
    bridge = {
      ensureStarted: async () => remote,
      notebookKey: (path: string) => `/srv/lab/${path}`,
      varsExport: jest.fn(async () => {
        log.push('varsExport');
        return exportStep;
      })
    } as any;
    defaultRunCell = jest.fn(async (opts: any) => {
      log.push(`default:${opts.cell.model.sharedModel.getSource()}`);
      return true;
    });
    notebook = new NotebookModel();
    executor = new ClusterCellExecutor({ bridge, defaultRunCell });
  });

  function cell(source: string) {
    const index = notebook.cells.length;
    notebook.sharedModel.insertCell(index, { cell_type: 'code', source });
    return {
      model: notebook.cells.get(index),
      isDisposed: false,
      outputHidden: true,
      outputArea: { future: null }
    } as any;
  }

  function run(source: string, events: string[] = []) {
    const target = cell(source);
    const promise = executor.runCell({
      cell: target,
      notebook,
      notebookConfig: { recordTiming: false } as any,
      onCellExecuted: (args: any) =>
        events.push(
          `executed:${args.success}${args.error ? ':' + args.error.errorName : ''}`
        ),
      onCellExecutionScheduled: () => events.push('scheduled'),
      sessionContext: {
        path: 'n.ipynb',
        session: { kernel: local },
        kernelPreference: { name: 'python3' }
      } as any
    });
    return { cell: target, promise, events };
  }

  it('exports, runs the cell with the folder named, then imports, in that order', async () => {
    const {
      cell: c,
      promise,
      events
    } = run('%%cluster local --in a --out b\nb = a * 2');
    await until(() => local.waiting === 1);
    expect(remote.requests).toHaveLength(0);
    // Queued behind the notebook's kernel: the prompt says so.
    expect(c.model.executionState).toBe('running');
    local.answer({ status: 'ok' });
    await until(() => remote.waiting === 1);
    expect(remote.requests[0].metadata).toMatchObject({
      [VARS_IN_METADATA_KEY]: exportStep.dir,
      [VARS_OUT_METADATA_KEY]: true,
      cluster_bridge_notebook: '/srv/lab/n.ipynb'
    });
    remote.answer(ok, { [VARS_OUT_METADATA_KEY]: importStep });
    await until(() => local.waiting === 1);
    local.answer({ status: 'ok' });
    await expect(promise).resolves.toBe(true);
    expect(log).toEqual([
      'varsExport',
      'python3:EXPORT a',
      'cluster-bridge:%%cluster local --in a --out b\nb = a * 2',
      'python3:IMPORT b'
    ]);
    expect(events).toEqual(['scheduled', 'executed:true']);
    expect(c.model.outputs.length).toBe(0);
  });

  it('does not send the cell when the export fails (an interrupt too), and shows why', async () => {
    const {
      cell: c,
      promise,
      events
    } = run('%%cluster local --in a\nprint(a)');
    c.model.outputs.add({ output_type: 'stream', name: 'stdout', text: 'old' });
    await until(() => local.waiting === 1);
    local.answer({
      status: 'error',
      ename: 'KeyboardInterrupt',
      evalue: '',
      traceback: ['KeyboardInterrupt']
    });
    await expect(promise).rejects.toMatchObject({
      errorName: 'KeyboardInterrupt'
    });
    expect(remote.requests).toHaveLength(0);
    expect(events).toEqual(['scheduled', 'executed:false:KeyboardInterrupt']);
    expect(c.model.outputs.length).toBe(1);
    expect(c.model.outputs.get(0).toJSON()).toMatchObject({
      output_type: 'error',
      ename: 'KeyboardInterrupt',
      traceback: [
        "KeyboardInterrupt: interrupted while this notebook's kernel wrote --in a; nothing was sent"
      ]
    });
    expect(c.model.executionState).toBe('idle');
    // Stopped before it was sent: no [r1] taken.
    expect(c.model.executionCount).toBeNull();
  });

  it('ends quietly, sending nothing, when the notebook kernel restarts during the export', async () => {
    const { cell: c, promise, events } = run('%cluster push local a');
    await until(() => local.waiting === 1);
    local.cancel();
    await expect(promise).resolves.toBe(false);
    expect(remote.requests).toHaveLength(0);
    expect(events).toEqual(['scheduled']);
    expect(c.model.executionState).toBe('idle');
  });

  it('fails the cell when its --out values do not load, below its outputs', async () => {
    const { cell: c, promise, events } = run('%%cluster local --out b\nb = 1');
    await until(() => remote.waiting === 1);
    remote.answer(ok, { [VARS_OUT_METADATA_KEY]: importStep });
    await until(() => local.waiting === 1);
    local.answer({
      status: 'error',
      ename: 'UnpicklingError',
      evalue: "--out refused global 'os.system'",
      traceback: []
    });
    await expect(promise).rejects.toMatchObject({
      errorName: 'UnpicklingError'
    });
    expect(events).toEqual(['scheduled', 'executed:false:UnpicklingError']);
    expect(c.model.outputs.get(0).toJSON()).toMatchObject({
      output_type: 'error',
      ename: 'UnpicklingError',
      traceback: ["UnpicklingError: --out refused global 'os.system'"]
    });
  });

  it('loads the --out values of a cell deleted while it ran', async () => {
    const { cell: c, promise, events } = run('%%cluster local --out b\nb = 1');
    await until(() => remote.waiting === 1);
    c.isDisposed = true;
    remote.answer(ok, { [VARS_OUT_METADATA_KEY]: importStep });
    await until(() => local.waiting === 1);
    expect(local.requests[0].content.code).toBe('IMPORT b');
    local.answer({ status: 'ok' });
    await expect(promise).resolves.toBe(false);
    expect(events).toEqual(['scheduled']);
  });

  it('loads nothing after a cell that failed remotely', async () => {
    const { promise } = run('%%cluster local --out b\nraise ValueError');
    await until(() => remote.waiting === 1);
    remote.answer(
      { status: 'error', ename: 'ValueError', evalue: '', traceback: [] },
      { [VARS_OUT_METADATA_KEY]: importStep }
    );
    await expect(promise).rejects.toMatchObject({ errorName: 'ValueError' });
    expect(local.requests).toHaveLength(0);
  });

  it('holds later cells of the notebook ("run all") until the values are set', async () => {
    const first = run('%%cluster local --out b\nb = 1');
    const second = run('print(b)');
    const third = run('%%cluster local\nprint(b)');
    await until(() => remote.waiting === 1);
    expect(defaultRunCell).not.toHaveBeenCalled();
    expect(second.cell.model.executionState).toBe('running');
    remote.answer(ok, { [VARS_OUT_METADATA_KEY]: importStep });
    await until(() => local.waiting === 1);
    local.answer({ status: 'ok' });
    await first.promise;
    await second.promise;
    await until(() => remote.waiting === 1);
    remote.answer(ok);
    await third.promise;
    expect(log).toEqual([
      'cluster-bridge:%%cluster local --out b\nb = 1',
      'python3:IMPORT b',
      'default:print(b)',
      'cluster-bridge:%%cluster local\nprint(b)'
    ]);
  });

  it('drops the cells queued behind a variables cell that failed, as a kernel drops its queue', async () => {
    const first = run('%cluster push local nope');
    const second = run('print(1)');
    await until(() => local.waiting === 1);
    local.answer({
      status: 'error',
      ename: 'NameError',
      evalue: 'nope',
      traceback: []
    });
    await expect(first.promise).rejects.toMatchObject({
      errorName: 'NameError'
    });
    await expect(second.promise).resolves.toBe(false);
    expect(second.cell.model.executionState).toBe('idle');
    expect(defaultRunCell).not.toHaveBeenCalled();
    // The queue is gone with the failure: a cell run now runs.
    await expect(run('print(2)').promise).resolves.toBe(true);
  });
});

describe('VarsOrder', () => {
  it('runs cells at once while no variables cell is in flight', async () => {
    const order = new VarsOrder();
    const notebook = {};
    const ran: string[] = [];
    const cell = { isDisposed: false, model: { executionState: 'idle' } };
    await order.run(notebook, cell as any, false, async () => {
      ran.push('a');
      return true;
    });
    expect(ran).toEqual(['a']);
    expect(order.isHolding(notebook)).toBe(false);
  });

  it('holds only the notebook the variables cell belongs to', async () => {
    const order = new VarsOrder();
    const [one, two] = [{}, {}];
    const cell = () =>
      ({ isDisposed: false, model: { executionState: 'idle' } }) as any;
    let release!: (value: boolean) => void;
    const held = order.run(
      one,
      cell(),
      true,
      () => new Promise<boolean>(r => (release = r))
    );
    const other = jest.fn(async () => true);
    await order.run(two, cell(), false, other);
    expect(other).toHaveBeenCalled();
    const same = jest.fn(async () => true);
    const waiting = order.run(one, cell(), false, same);
    await new Promise(r => setTimeout(r, 0));
    expect(same).not.toHaveBeenCalled();
    release(true);
    await held;
    await expect(waiting).resolves.toBe(true);
    expect(same).toHaveBeenCalled();
    expect(order.isHolding(one)).toBe(false);
  });
});
