/**
 * The kernel through Debian's jupyter_server 1.23: create it over REST, talk
 * over the kernel websocket from node (as JupyterLab does), run a line magic
 * and a remote cell on the local cluster, open the cluster_bridge comm,
 * interrupt over REST, delete the kernel.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import WebSocket from 'ws';

import {
  freePort,
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython
} from './helpers';

interface IWireMsg {
  channel: string;
  header: { msg_id: string; msg_type: string; [k: string]: unknown };
  parent_header: { msg_id?: string; [k: string]: unknown };
  metadata: { [k: string]: unknown };
  content: { [k: string]: any };
  buffers?: unknown[];
}

class KernelSocket {
  readonly messages: IWireMsg[] = [];
  private _waiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly session: string
  ) {
    ws.on('message', data => {
      this.messages.push(JSON.parse(data.toString()) as IWireMsg);
      for (const w of this._waiters.splice(0)) {
        w();
      }
    });
  }

  send(
    channel: string,
    msgType: string,
    content: { [k: string]: unknown }
  ): string {
    const msgId = randomUUID();
    this.ws.send(
      JSON.stringify({
        channel,
        header: {
          msg_id: msgId,
          msg_type: msgType,
          session: this.session,
          username: 'test',
          date: new Date().toISOString(),
          version: '5.3'
        },
        parent_header: {},
        metadata: {},
        content,
        buffers: []
      })
    );
    return msgId;
  }

  of(parent: string): IWireMsg[] {
    return this.messages.filter(m => m.parent_header.msg_id === parent);
  }

  async until(predicate: () => boolean, ms = 120000): Promise<void> {
    const end = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > end) {
        throw new Error(
          `timed out; messages so far:\n${JSON.stringify(this.messages.map(m => [m.channel, m.header.msg_type, m.parent_header.msg_id]))}`
        );
      }
      await new Promise<void>(resolve => {
        this._waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** Waits for the reply and the idle status of a request. */
  async done(parent: string): Promise<IWireMsg[]> {
    await this.until(
      () =>
        this.of(parent).some(
          m => m.channel === 'shell' || m.channel === 'control'
        ) &&
        this.of(parent).some(
          m =>
            m.header.msg_type === 'status' &&
            m.content.execution_state === 'idle'
        )
    );
    return this.of(parent);
  }
}

describe('jupyter_server websocket', () => {
  let k: IKernelEnv;
  let server: ChildProcess | undefined;
  let base = '';
  let log = '';
  const token = randomUUID();
  const headers = {
    Authorization: `token ${token}`,
    'Content-Type': 'application/json'
  };

  beforeAll(async () => {
    requirePython(['jupyter_server']);
    k = kernelEnv();
    const port = await freePort();
    const root = path.join(k.dir, 'root');
    fs.mkdirSync(root);
    server = spawn(
      PYTHON,
      [
        '-m',
        'jupyter_server',
        '--no-browser',
        '--allow-root',
        `--ServerApp.port=${port}`,
        '--ServerApp.port_retries=0',
        '--ServerApp.ip=127.0.0.1',
        `--ServerApp.token=${token}`,
        `--ServerApp.root_dir=${root}`
      ],
      { env: k.env, stdio: ['ignore', 'pipe', 'pipe'] }
    );
    server.stdout!.on('data', d => (log += d));
    server.stderr!.on('data', d => (log += d));
    base = `http://127.0.0.1:${port}`;
    const end = Date.now() + 60000;
    for (;;) {
      try {
        const r = await fetch(`${base}/api/status`, { headers });
        if (r.ok) {
          break;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > end || server.exitCode !== null) {
        throw new Error(`jupyter_server did not start:\n${log}`);
      }
      await new Promise(r => setTimeout(r, 200));
    }
  }, 90000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      let timer: NodeJS.Timeout | undefined;
      const exited = new Promise(resolve => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([
        exited,
        new Promise(r => (timer = setTimeout(r, 10000)))
      ]);
      clearTimeout(timer);
      if (server.exitCode === null) {
        server.kill('SIGKILL');
      }
    }
    k?.dispose();
  });

  it('creates the kernel over REST and runs cells over the websocket', async () => {
    const specs = await (
      await fetch(`${base}/api/kernelspecs`, { headers })
    ).json();
    expect(specs.kernelspecs['cluster-bridge'].spec).toMatchObject({
      display_name: 'Cluster Bridge',
      interrupt_mode: 'message'
    });
    const created = await fetch(`${base}/api/kernels`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'cluster-bridge' })
    });
    expect(created.status).toBe(201);
    const kernel = (await created.json()) as { id: string; name: string };
    expect(kernel.name).toBe('cluster-bridge');

    const session = randomUUID();
    const ws = new WebSocket(
      `${base.replace('http', 'ws')}/api/kernels/${kernel.id}/channels?session_id=${session}&token=${token}`
    );
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const sock = new KernelSocket(ws, session);
    try {
      // Ready once kernel_info came back with an iopub message (jupyter_server 1.x).
      const info = sock.send('shell', 'kernel_info_request', {});
      const infoMsgs = await sock.done(info);
      expect(
        infoMsgs.find(m => m.header.msg_type === 'kernel_info_reply')!.content
      ).toMatchObject({
        implementation: 'cluster-bridge',
        language_info: { name: 'python' }
      });

      const list = sock.send('shell', 'execute_request', {
        code: '%cluster list',
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true
      });
      const listMsgs = await sock.done(list);
      const table = listMsgs.find(m => m.header.msg_type === 'display_data')!;
      expect(table.channel).toBe('iopub');
      expect(table.content.data['text/plain']).toMatch(
        /^\*\s+local\s+local\s+direct/m
      );

      const cell = sock.send('shell', 'execute_request', {
        code: '%%cluster local\nimport sys\nprint("over the websocket", sys.version_info[0])\n21 * 2',
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true
      });
      const cellMsgs = await sock.done(cell);
      const types = cellMsgs.map(m => m.header.msg_type);
      expect(types[0]).toBe('status');
      expect(types).toContain('execute_input');
      expect(
        cellMsgs
          .filter(m => m.header.msg_type === 'stream')
          .map(m => m.content.text)
          .join('')
      ).toBe('over the websocket 3\n');
      expect(
        cellMsgs.find(m => m.header.msg_type === 'execute_result')!.content
          .data['text/plain']
      ).toBe('42');
      const reply = cellMsgs.find(m => m.header.msg_type === 'execute_reply')!;
      expect(reply.channel).toBe('shell');
      expect(reply.content).toMatchObject({ status: 'ok', execution_count: 2 });

      // The frontend's comm: clusters pushed on open, answers to requests.
      const open = sock.send('shell', 'comm_open', {
        comm_id: 'comm-1',
        target_name: 'cluster_bridge',
        data: {}
      });
      await sock.until(() =>
        sock.messages.some(
          m =>
            m.header.msg_type === 'comm_msg' &&
            m.content.data.event === 'clusters'
        )
      );
      const push = sock.messages.find(
        m =>
          m.header.msg_type === 'comm_msg' &&
          m.content.data.event === 'clusters'
      )!;
      expect(push.parent_header.msg_id).toBe(open);
      expect(
        push.content.data.clusters.map((c: { name: string }) => c.name)
      ).toContain('local');
      sock.send('shell', 'comm_msg', {
        comm_id: 'comm-1',
        data: { id: 'q1', op: 'jobs' }
      });
      await sock.until(() =>
        sock.messages.some(
          m => m.header.msg_type === 'comm_msg' && m.content.data.id === 'q1'
        )
      );
      const answer = sock.messages.find(
        m => m.header.msg_type === 'comm_msg' && m.content.data.id === 'q1'
      )!;
      expect(answer.content.data.ok).toBe(true);
      expect(
        answer.content.data.result.some((j: { title: string }) =>
          j.title.includes('import sys')
        )
      ).toBe(true);

      // Interrupt through REST (interrupt_mode message: interrupt_request on control).
      const sleeper = sock.send('shell', 'execute_request', {
        code: '%%cluster local\nimport time\nprint("zz", flush=True)\ntime.sleep(120)',
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true
      });
      await sock.until(() =>
        sock
          .of(sleeper)
          .some(
            m => m.header.msg_type === 'stream' && m.content.text.includes('zz')
          )
      );
      const intr = await fetch(`${base}/api/kernels/${kernel.id}/interrupt`, {
        method: 'POST',
        headers
      });
      expect(intr.status).toBe(204);
      const sleptMsgs = await sock.done(sleeper);
      expect(
        sleptMsgs.find(m => m.header.msg_type === 'execute_reply')!.content
      ).toMatchObject({
        status: 'error',
        ename: 'KeyboardInterrupt'
      });
    } finally {
      ws.close();
    }
    const deleted = await fetch(`${base}/api/kernels/${kernel.id}`, {
      method: 'DELETE',
      headers
    });
    expect(deleted.status).toBe(204);
    const left = (await (
      await fetch(`${base}/api/kernels`, { headers })
    ).json()) as unknown[];
    expect(left).toEqual([]);
  }, 240000);
});
