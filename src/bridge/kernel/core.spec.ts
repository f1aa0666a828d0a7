// Over 500 lines: one case per Jupyter message type and ordering rule, all on one scripted handler.
import { KernelCore } from './core';
import type {
  CommTarget,
  IComm,
  IExecuteContext,
  IExecuteOutcome,
  IKernelHandler
} from './handler';
import { FakeClient } from '../../../tests/support/fakeKernelClient';
import { makeMessage, newSession, type JSONObject } from './wire';

/** A handler whose cells are scripted by the test through `behaviour`. */
class ScriptedHandler implements IKernelHandler {
  behaviour: (ctx: IExecuteContext) => Promise<IExecuteOutcome> = async ctx => {
    ctx.sink.stream('stdout', `ran ${ctx.code}\n`);
    return { status: 'ok' };
  };
  contexts: IExecuteContext[] = [];
  comms: IComm[] = [];
  disposed = 0;

  execute(ctx: IExecuteContext): Promise<IExecuteOutcome> {
    this.contexts.push(ctx);
    return this.behaviour(ctx);
  }
  complete(code: string, cursorPos: number) {
    return { matches: ['%%cluster'], cursor_start: 0, cursor_end: cursorPos };
  }
  inspect(code: string) {
    return code.startsWith('%')
      ? { found: true, data: { 'text/plain': 'help' } }
      : { found: false, data: {} };
  }
  isComplete(code: string) {
    return code.endsWith(':')
      ? { status: 'incomplete' as const, indent: '    ' }
      : { status: 'complete' as const };
  }
  commTargets(): { [target: string]: CommTarget } {
    return {
      cluster_bridge: comm => {
        this.comms.push(comm);
        comm.onMsg = data => comm.send({ echo: data });
      }
    };
  }
  async dispose(): Promise<void> {
    this.disposed++;
  }
}

function setup() {
  const client = new FakeClient();
  const handler = new ScriptedHandler();
  const logs: string[] = [];
  const shutdowns: boolean[] = [];
  const core = new KernelCore({
    handler,
    send: client.send,
    session: newSession(),
    implementationVersion: '9.9.9',
    log: t => logs.push(t),
    onShutdown: r => shutdowns.push(r)
  });
  return { client, handler, core, logs, shutdowns };
}

/** A promise the test resolves by hand. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>(r => (resolve = r));
  return { promise, resolve };
}

describe('KernelCore', () => {
  it('answers kernel_info with busy/idle on iopub', async () => {
    const { client, core } = setup();
    const req = client.request('kernel_info_request');
    await core.handleMessage('shell', req);
    const reply = client.reply(req)!;
    expect(reply.header.msg_type).toBe('kernel_info_reply');
    expect(reply.identities.map(b => b.toString())).toEqual(['client-1']);
    expect(reply.content).toMatchObject({
      status: 'ok',
      protocol_version: '5.3',
      implementation: 'cluster-bridge',
      implementation_version: '9.9.9',
      language_info: {
        name: 'python',
        version: '3',
        mimetype: 'text/x-python',
        file_extension: '.py',
        codemirror_mode: { name: 'ipython', version: 3 },
        pygments_lexer: 'ipython3'
      }
    });
    expect(client.iopubTypes(req)).toEqual(['status:busy', 'status:idle']);
  });

  it('answers kernel_info on control too (jupyter_server probes both)', async () => {
    const { client, core } = setup();
    const req = client.request('kernel_info_request');
    await core.handleMessage('control', req);
    expect(client.children(req, 'control').map(m => m.header.msg_type)).toEqual(
      ['kernel_info_reply']
    );
    expect(client.iopubTypes(req)).toEqual(['status:busy', 'status:idle']);
  });

  it('executes: busy, execute_input, outputs, reply, idle; counts executions', async () => {
    const { client, core } = setup();
    const a = client.request('execute_request', {
      code: 'a',
      silent: false,
      store_history: true
    });
    const b = client.request('execute_request', {
      code: 'b',
      silent: false,
      store_history: true
    });
    await core.handleMessage('shell', a);
    await core.handleMessage('shell', b);
    await core.idle();
    expect(client.iopubTypes(a)).toEqual([
      'status:busy',
      'execute_input',
      'stream',
      'status:idle'
    ]);
    expect(client.children(a, 'iopub')[1].content).toEqual({
      code: 'a',
      execution_count: 1
    });
    expect(client.reply(a)!.content).toEqual({
      status: 'ok',
      execution_count: 1,
      user_expressions: {},
      payload: []
    });
    expect(client.reply(b)!.content).toMatchObject({
      status: 'ok',
      execution_count: 2
    });
    // The reply goes out before idle.
    const order = client.sent
      .filter(s => s.message.parent_header.msg_id === a.header.msg_id)
      .map(s => s.message.header.msg_type);
    expect(order.indexOf('execute_reply')).toBeLessThan(
      order.lastIndexOf('status')
    );
  });

  it('does not count or echo silent executions, nor publish their outputs', async () => {
    const { client, core } = setup();
    const s = client.request('execute_request', { code: 'x', silent: true });
    await core.handleMessage('shell', s);
    await core.idle();
    expect(client.iopubTypes(s)).toEqual(['status:busy', 'status:idle']);
    expect(client.reply(s)!.content).toMatchObject({
      status: 'ok',
      execution_count: 0
    });
    const n = client.request('execute_request', {
      code: 'y',
      store_history: false
    });
    await core.handleMessage('shell', n);
    await core.idle();
    expect(client.reply(n)!.content).toMatchObject({ execution_count: 0 });
  });

  it('maps every sink call onto its iopub message', async () => {
    const { client, core, handler } = setup();
    handler.behaviour = async ctx => {
      ctx.sink.stream('stderr', 'warn\n');
      ctx.sink.display({ 'text/plain': 'status' }, { m: 1 }, 'disp-1');
      ctx.sink.updateDisplay({ 'text/plain': 'status 2' }, undefined, 'disp-1');
      ctx.sink.display({ 'text/plain': 'plain' });
      ctx.sink.result({ 'text/plain': '42' });
      return { status: 'ok' };
    };
    const req = client.request('execute_request', { code: 'x' });
    await core.handleMessage('shell', req);
    await core.idle();
    const msgs = client.children(req, 'iopub').slice(2, -1);
    expect(msgs.map(m => [m.header.msg_type, m.content])).toEqual([
      ['stream', { name: 'stderr', text: 'warn\n' }],
      [
        'display_data',
        {
          data: { 'text/plain': 'status' },
          metadata: { m: 1 },
          transient: { display_id: 'disp-1' }
        }
      ],
      [
        'update_display_data',
        {
          data: { 'text/plain': 'status 2' },
          metadata: {},
          transient: { display_id: 'disp-1' }
        }
      ],
      [
        'display_data',
        { data: { 'text/plain': 'plain' }, metadata: {}, transient: {} }
      ],
      [
        'execute_result',
        { data: { 'text/plain': '42' }, metadata: {}, execution_count: 1 }
      ]
    ]);
  });

  it('replies with the error of a failed cell', async () => {
    const { client, core, handler } = setup();
    handler.behaviour = async ctx => {
      ctx.sink.error('ValueError', 'bad', ['Traceback', 'ValueError: bad']);
      return { status: 'error' };
    };
    const req = client.request('execute_request', { code: 'x' });
    await core.handleMessage('shell', req);
    await core.idle();
    expect(client.iopubTypes(req)).toEqual([
      'status:busy',
      'execute_input',
      'error',
      'status:idle'
    ]);
    expect(client.reply(req)!.content).toEqual({
      status: 'error',
      execution_count: 1,
      ename: 'ValueError',
      evalue: 'bad',
      traceback: ['Traceback', 'ValueError: bad']
    });
    expect(client.reply(req)!.metadata).toMatchObject({ status: 'error' });
  });

  it('survives a handler that throws', async () => {
    const { client, core, handler, logs } = setup();
    handler.behaviour = async () => {
      throw new TypeError('boom');
    };
    const req = client.request('execute_request', { code: 'x' });
    await core.handleMessage('shell', req);
    await core.idle();
    expect(client.reply(req)!.content).toMatchObject({
      status: 'error',
      ename: 'TypeError',
      evalue: 'boom'
    });
    expect(client.iopubTypes(req)).toContain('error');
    expect(logs.join('\n')).toMatch(/boom/);
  });

  it('runs execute requests concurrently, each with its own parent, replies as each finishes', async () => {
    const { client, core, handler } = setup();
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    handler.behaviour = async ctx => {
      const gate = deferred<void>();
      gates.set(ctx.code, gate);
      ctx.sink.stream('stdout', `start ${ctx.code}\n`);
      await gate.promise;
      ctx.sink.stream('stdout', `end ${ctx.code}\n`);
      return { status: 'ok' };
    };
    const slow = client.request('execute_request', { code: 'slow' });
    const fast = client.request('execute_request', { code: 'fast' });
    await core.handleMessage('shell', slow);
    await core.handleMessage('shell', fast);
    // Both started before either finished.
    expect([...gates.keys()]).toEqual(['slow', 'fast']);
    expect(core.running).toBe(2);
    // Meanwhile other requests are served.
    const info = client.request('kernel_info_request');
    await core.handleMessage('shell', info);
    expect(client.reply(info)).toBeDefined();
    gates.get('fast')!.resolve();
    await client.until(() => client.reply(fast) !== undefined);
    expect(client.reply(slow)).toBeUndefined();
    gates.get('slow')!.resolve();
    await core.idle();
    expect(client.reply(slow)!.content).toMatchObject({ execution_count: 1 });
    expect(client.reply(fast)!.content).toMatchObject({ execution_count: 2 });
    const texts = (m: ReturnType<typeof client.request>) =>
      client
        .children(m, 'iopub')
        .filter(x => x.header.msg_type === 'stream')
        .map(x => x.content.text);
    expect(texts(slow)).toEqual(['start slow\n', 'end slow\n']);
    expect(texts(fast)).toEqual(['start fast\n', 'end fast\n']);
  });

  it('interrupt_request on control aborts running cells and replies', async () => {
    const { client, core, handler } = setup();
    handler.behaviour = ctx =>
      new Promise(resolve =>
        ctx.signal.addEventListener('abort', () =>
          resolve({ status: 'aborted' })
        )
      );
    const a = client.request('execute_request', { code: 'a' });
    const b = client.request('execute_request', { code: 'b' });
    await core.handleMessage('shell', a);
    await core.handleMessage('shell', b);
    const intr = client.request('interrupt_request');
    await core.handleMessage('control', intr);
    expect(client.reply(intr)!.header.msg_type).toBe('interrupt_reply');
    expect(client.reply(intr)!.content).toEqual({ status: 'ok' });
    await core.idle();
    for (const req of [a, b]) {
      expect(handler.contexts.every(c => c.signal.aborted)).toBe(true);
      expect(client.reply(req)!.content).toMatchObject({
        status: 'error',
        ename: 'KeyboardInterrupt'
      });
      expect(client.iopubTypes(req)).toContain('error');
    }
  });

  it("a scoped interrupt stops only its own connection's cells of the named notebook", async () => {
    const { client, core, handler } = setup();
    handler.behaviour = ctx =>
      new Promise(resolve =>
        ctx.signal.addEventListener('abort', () =>
          resolve({ status: 'aborted' })
        )
      );
    const tabA = newSession();
    const tabB = newSession();
    const cell = (tab: typeof tabA, notebook: string, cellId: string) =>
      makeMessage('execute_request', { code: cellId }, tab, undefined, {
        cluster_bridge_notebook: notebook,
        cellId
      });
    const a1 = cell(tabA, 'a.ipynb', 'a1');
    const a2 = cell(tabA, 'a.ipynb', 'a2');
    const b1 = cell(tabA, 'b.ipynb', 'b1');
    const otherTab = cell(tabB, 'a.ipynb', 'a1');
    for (const req of [a1, a2, b1, otherTab]) {
      await core.handleMessage('shell', req);
    }
    const aborted = () =>
      handler.contexts.filter(c => c.signal.aborted).map(c => c.code);
    const scoped = (content: JSONObject) =>
      makeMessage('interrupt_request', content, tabA);
    await core.handleMessage(
      'control',
      scoped({ cluster_bridge_notebook: 'a.ipynb', cell_ids: ['a2'] })
    );
    expect(aborted()).toEqual(['a2']);
    await core.handleMessage(
      'control',
      scoped({ cluster_bridge_notebook: 'a.ipynb' })
    );
    expect(aborted()).toEqual(['a1', 'a2']);
    expect(core.running).toBe(2);
    // A plain interrupt (REST, SIGINT) still stops the rest.
    await core.handleMessage('control', client.request('interrupt_request'));
    await core.idle();
    expect(aborted()).toEqual(['a1', 'a2', 'b1', 'a1']);
  });

  it('asks for input on stdin with the execute request as parent and identities', async () => {
    const { client, core, handler } = setup();
    let answer: string | undefined;
    handler.behaviour = async ctx => {
      answer = await ctx.prompter.ask('Passphrase: ', true);
      return { status: 'ok' };
    };
    const req = client.request(
      'execute_request',
      { code: 'x', allow_stdin: true },
      'client-7'
    );
    await core.handleMessage('shell', req);
    await client.until(() => client.children(req, 'stdin').length === 1);
    const ir = client.children(req, 'stdin')[0];
    expect(ir.header.msg_type).toBe('input_request');
    expect(ir.content).toEqual({ prompt: 'Passphrase: ', password: true });
    expect(ir.identities.map(b => b.toString())).toEqual(['client-7']);
    const reply = makeMessage(
      'input_reply',
      { value: 'secret' },
      client.session,
      ir
    );
    await core.handleMessage('stdin', reply);
    await core.idle();
    expect(answer).toBe('secret');
    expect(client.reply(req)!.content).toMatchObject({ status: 'ok' });
  });

  it('refuses to prompt when allow_stdin is false', async () => {
    const { client, core, handler } = setup();
    let error: Error | undefined;
    handler.behaviour = async ctx => {
      error = await ctx.prompter.ask('code?', false).then(
        () => undefined,
        e => e as Error
      );
      return { status: 'ok' };
    };
    await core.handleMessage(
      'shell',
      client.request('execute_request', { code: 'x', allow_stdin: false })
    );
    await core.idle();
    expect(error?.message).toMatch(/allow_stdin/);
    expect(client.sent.filter(s => s.channel === 'stdin')).toEqual([]);
  });

  it('asks one question at a time and an interrupt cancels a waiting prompt', async () => {
    const { client, core, handler } = setup();
    const results: string[] = [];
    handler.behaviour = async ctx => {
      try {
        results.push(await ctx.prompter.ask(`q ${ctx.code}`, false));
        return { status: 'ok' };
      } catch (e) {
        results.push(`rejected: ${(e as Error).message}`);
        return { status: 'aborted' };
      }
    };
    await core.handleMessage(
      'shell',
      client.request('execute_request', { code: '1' })
    );
    await core.handleMessage(
      'shell',
      client.request('execute_request', { code: '2' })
    );
    await client.until(() => client.sent.some(s => s.channel === 'stdin'));
    await new Promise(r => setTimeout(r, 20));
    expect(client.sent.filter(s => s.channel === 'stdin')).toHaveLength(1);
    const first = client.sent.find(s => s.channel === 'stdin')!.message;
    expect(first.content.prompt).toBe('q 1');
    // A reply with an empty parent goes to the only pending prompt.
    await core.handleMessage(
      'stdin',
      makeMessage('input_reply', { value: 'one' }, client.session)
    );
    await client.until(
      () => client.sent.filter(s => s.channel === 'stdin').length === 2
    );
    await core.handleMessage('control', client.request('interrupt_request'));
    await core.idle();
    expect(results).toEqual([
      'one',
      'rejected: interrupted while waiting for input'
    ]);
  });

  it("keeps this session's inputs for history_request: tail, range, search", async () => {
    const { client, core } = setup();
    const run = async (code: string, store = true) => {
      await core.handleMessage(
        'shell',
        client.request('execute_request', {
          code,
          silent: false,
          store_history: store
        })
      );
      await core.idle();
    };
    await run('%%cluster a\nprint(1)');
    await run('not kept', false);
    await run('%%cluster b\nprint(2)');
    await run('%%cluster a\nprint(1)');
    const ask = async (content: JSONObject) => {
      const h = client.request('history_request', content);
      await core.handleMessage('shell', h);
      return client.reply(h)!.content.history;
    };
    expect(await ask({ hist_access_type: 'tail', n: 2 })).toEqual([
      [0, 2, '%%cluster b\nprint(2)'],
      [0, 3, '%%cluster a\nprint(1)']
    ]);
    expect(
      await ask({ hist_access_type: 'range', session: 0, start: 1, stop: 2 })
    ).toEqual([[0, 1, '%%cluster a\nprint(1)']]);
    expect(
      await ask({ hist_access_type: 'range', session: -1, start: 1 })
    ).toEqual([]);
    expect(
      await ask({
        hist_access_type: 'search',
        pattern: '%%cluster a*',
        unique: true,
        output: true
      })
    ).toEqual([[0, 3, ['%%cluster a\nprint(1)', null]]]);
  });

  it('serves is_complete, complete (code points), inspect and history', async () => {
    const { client, core } = setup();
    const ic = client.request('is_complete_request', { code: 'for x in y:' });
    await core.handleMessage('shell', ic);
    expect(client.reply(ic)!.content).toEqual({
      status: 'incomplete',
      indent: '    '
    });
    const cr = client.request('complete_request', {
      code: 'é%%cl',
      cursor_pos: 5
    });
    await core.handleMessage('shell', cr);
    expect(client.reply(cr)!.content).toEqual({
      status: 'ok',
      matches: ['%%cluster'],
      cursor_start: 0,
      cursor_end: 5,
      metadata: {}
    });
    const emoji = client.request('complete_request', {
      code: '😀%',
      cursor_pos: 2
    });
    await core.handleMessage('shell', emoji);
    expect(client.reply(emoji)!.content).toMatchObject({ cursor_end: 2 });
    const ins = client.request('inspect_request', {
      code: '%cluster',
      cursor_pos: 3,
      detail_level: 0
    });
    await core.handleMessage('shell', ins);
    expect(client.reply(ins)!.content).toEqual({
      status: 'ok',
      found: true,
      data: { 'text/plain': 'help' },
      metadata: {}
    });
    const h = client.request('history_request', {
      hist_access_type: 'tail',
      n: 10
    });
    await core.handleMessage('shell', h);
    expect(client.reply(h)!.content).toEqual({ status: 'ok', history: [] });
    for (const r of [ic, cr, ins, h]) {
      expect(client.iopubTypes(r)).toEqual(['status:busy', 'status:idle']);
    }
  });

  it('opens, lists, messages and closes comms of known targets', async () => {
    const { client, core, handler } = setup();
    const open = client.request('comm_open', {
      comm_id: 'c1',
      target_name: 'cluster_bridge',
      data: {}
    });
    await core.handleMessage('shell', open);
    expect(handler.comms.map(c => c.id)).toEqual(['c1']);
    const info = client.request('comm_info_request', {
      target_name: 'cluster_bridge'
    });
    await core.handleMessage('shell', info);
    expect(client.reply(info)!.content).toEqual({
      status: 'ok',
      comms: { c1: { target_name: 'cluster_bridge' } }
    });
    const other = client.request('comm_info_request', { target_name: 'other' });
    await core.handleMessage('shell', other);
    expect(client.reply(other)!.content).toEqual({ status: 'ok', comms: {} });
    const msg = client.request('comm_msg', {
      comm_id: 'c1',
      data: { op: 'x' }
    });
    await core.handleMessage('shell', msg);
    const echo = client
      .children(msg, 'iopub')
      .find(m => m.header.msg_type === 'comm_msg')!;
    expect(echo.content).toEqual({
      comm_id: 'c1',
      data: { echo: { op: 'x' } }
    });
    let closed: unknown;
    handler.comms[0].onClose = d => (closed = d);
    await core.handleMessage(
      'shell',
      client.request('comm_close', { comm_id: 'c1', data: { bye: 1 } })
    );
    expect(closed).toEqual({ bye: 1 });
    const after = client.request('comm_info_request', {});
    await core.handleMessage('shell', after);
    expect(client.reply(after)!.content).toEqual({ status: 'ok', comms: {} });
  });

  it('closes a comm_open for an unknown target at once', async () => {
    const { client, core, logs } = setup();
    const open = client.request('comm_open', {
      comm_id: 'c9',
      target_name: 'nope',
      data: {}
    });
    await core.handleMessage('shell', open);
    const close = client
      .children(open, 'iopub')
      .find(m => m.header.msg_type === 'comm_close');
    expect(close?.content).toEqual({ comm_id: 'c9', data: {} });
    expect(logs.join()).toMatch(/unknown target/);
    // Messages to it are ignored without a crash.
    await core.handleMessage(
      'shell',
      client.request('comm_msg', { comm_id: 'c9', data: {} })
    );
  });

  it('kernel-side comm close sends comm_close once', async () => {
    const { client, core, handler } = setup();
    const open = client.request('comm_open', {
      comm_id: 'c2',
      target_name: 'cluster_bridge',
      data: {}
    });
    await core.handleMessage('shell', open);
    handler.comms[0].close();
    handler.comms[0].close();
    handler.comms[0].send({ late: true });
    const sent = client
      .children(open, 'iopub')
      .filter(m => m.header.msg_type.startsWith('comm_'));
    expect(sent.map(m => m.header.msg_type)).toEqual(['comm_close']);
  });

  it('shutdown_request: replies, disposes the handler, then signals shutdown', async () => {
    const { client, core, handler, shutdowns } = setup();
    const req = client.request('shutdown_request', { restart: true });
    await core.handleMessage('control', req);
    expect(client.reply(req)!.content).toEqual({ status: 'ok', restart: true });
    expect(client.children(req, 'iopub').map(m => m.header.msg_type)).toContain(
      'shutdown_reply'
    );
    expect(handler.disposed).toBe(1);
    expect(shutdowns).toEqual([true]);
  });

  it('answers unknown requests with an error reply and ignores other unknown types', async () => {
    const { client, core, logs } = setup();
    const req = client.request('frobnicate_request', {});
    await core.handleMessage('shell', req);
    expect(client.reply(req)!.header.msg_type).toBe('frobnicate_reply');
    expect(client.reply(req)!.content).toMatchObject({
      status: 'error',
      ename: 'UnknownMessageType'
    });
    const odd = client.request('something_else', {});
    await core.handleMessage('shell', odd);
    expect(client.reply(odd)).toBeUndefined();
    expect(client.iopubTypes(odd)).toEqual(['status:busy', 'status:idle']);
    expect(logs.join('\n')).toMatch(/frobnicate_request[\s\S]*something_else/);
  });

  it('never throws on hostile content', async () => {
    const { client, core } = setup();
    const hostile = [
      client.request('execute_request', { code: 42 as unknown as string }),
      client.request('complete_request', { code: null, cursor_pos: 'x' }),
      client.request('complete_request', { code: 'abc', cursor_pos: 1e9 }),
      client.request('inspect_request', { code: ['x'], cursor_pos: -5 }),
      client.request('comm_open', { comm_id: 7, target_name: {} }),
      client.request('comm_msg', {}),
      client.request('comm_close', { comm_id: 'missing' }),
      client.request('is_complete_request', {})
    ];
    for (const m of hostile) {
      await expect(core.handleMessage('shell', m)).resolves.toBeUndefined();
    }
    await core.handleMessage(
      'stdin',
      client.request('input_reply', { value: 'unexpected' })
    );
    await core.handleMessage('iopub', client.request('status', {}));
    await core.idle();
  });
});
