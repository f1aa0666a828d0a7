/**
 * The kernel through jupyter_client's BlockingKernelClient (client_check.py):
 * rich outputs of a remote cell on the local cluster, concurrency while a
 * cell runs, interrupt of a sleeping cell, detach + reattach from a new
 * kernel, and a clean shutdown.
 */
import * as path from 'path';

import {
  HERE,
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython,
  run
} from './helpers';

interface IOut {
  type: string;
  content: { [key: string]: any };
}

const text = (msgs: IOut[], name = 'stdout') =>
  msgs
    .filter(m => m.type === 'stream' && m.content.name === name)
    .map(m => m.content.text)
    .join('');

describe('jupyter_client', () => {
  let k: IKernelEnv;
  let report: { [key: string]: any };

  beforeAll(async () => {
    requirePython(['jupyter_client']);
    k = kernelEnv();
    const result = await run(PYTHON, [path.join(HERE, 'client_check.py')], {
      env: k.env,
      timeoutMs: 300000
    });
    if (result.code !== 0) {
      throw new Error(
        `client_check.py failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`
      );
    }
    report = JSON.parse(result.stdout);
  }, 320000);
  afterAll(() => k?.dispose());

  it('reports kernel_info', () => {
    expect(report.kernel_info).toMatchObject({
      protocol_version: '5.3',
      implementation: 'cluster-bridge',
      language_info: { name: 'python', file_extension: '.py' }
    });
  });

  it('runs a remote cell with stream, display and result; its live status goes over the comm', () => {
    const { iopub, reply, cellStatus, msg_id } = report.rich as {
      iopub: IOut[];
      reply: any;
      cellStatus: any[];
      msg_id: string;
    };
    expect(reply.status).toBe('ok');
    expect(text(iopub)).toBe('out\n');
    const html = iopub.find(
      m => m.type === 'display_data' && m.content.data['text/html']
    );
    expect(html?.content.data['text/html']).toBe('<b>bold</b>');
    // Only what the code produced: no status display among the outputs.
    expect(
      iopub
        .filter(m => !['status', 'execute_input'].includes(m.type))
        .map(m => m.type)
    ).toEqual(['stream', 'display_data', 'execute_result']);
    expect(cellStatus.length).toBeGreaterThan(1);
    expect(cellStatus.every(p => p.msgId === msg_id)).toBe(true);
    expect(cellStatus[0].status.phase).toBe('connecting');
    expect(cellStatus[cellStatus.length - 1].status).toMatchObject({
      phase: 'done',
      endState: 'completed',
      cluster: 'local'
    });
    const result = iopub.find(m => m.type === 'execute_result');
    expect(result?.content).toMatchObject({
      data: { 'text/plain': '42' },
      execution_count: reply.execution_count
    });
    expect(iopub[0]).toMatchObject({
      type: 'status',
      content: { execution_state: 'busy' }
    });
    expect(iopub[iopub.length - 1]).toMatchObject({
      type: 'status',
      content: { execution_state: 'idle' }
    });
  });

  it('stays responsive while a remote cell runs', () => {
    const c = report.concurrency;
    expect(c.order[c.order.length - 1]).toBe('slow');
    expect(c.order).toContain('fast');
    expect(c.order).toContain('comm_info');
    expect(c.alive).toBe(true);
    expect(c.comm_info.status).toBe('ok');
  });

  it('interrupt cancels the remote job of the running cell', () => {
    const { reply, iopub } = report.interrupt as { reply: any; iopub: IOut[] };
    expect(reply.status).toBe('error');
    expect(reply.ename).toBe('KeyboardInterrupt');
    expect(text(iopub)).not.toContain('woke');
    expect(iopub.some(m => m.type === 'error')).toBe(true);
  });

  it('a detached job outlives its kernel and is reattached from a new one', () => {
    expect(report.detach.reply.status).toBe('ok');
    expect(report.detach.jobId).toMatch(/^cb-/);
    expect(text(report.detach.iopub)).not.toContain('detached done');
    const listed = (report.reattach_jobs as IOut[]).find(
      m => m.type === 'display_data'
    );
    expect(listed?.content.data['text/plain']).toContain(report.detach.jobId);
    expect(report.reattach.reply.status).toBe('ok');
    expect(text(report.reattach.iopub)).toContain('detached done');
  });

  it('shuts down cleanly on shutdown_request', () => {
    expect(report.shutdown.reply).toEqual({ status: 'ok', restart: false });
    expect(report.shutdown.exited_by_itself).toBe(true);
  });
});
