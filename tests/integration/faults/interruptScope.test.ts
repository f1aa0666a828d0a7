/**
 * Interrupt scope on the real kernel through jupyter_client
 * (interrupt_scope.py): two notebooks and two client connections (browser
 * tabs) share one Cluster Bridge kernel; a scoped interrupt stops only the
 * named notebook's cell of the connection that sent it.
 */
import * as path from 'path';

import {
  kernelEnv,
  PYTHON,
  requirePython,
  run,
  type IKernelEnv
} from '../kernel/helpers';

describe('scoped interrupt on a shared bridge kernel', () => {
  let k: IKernelEnv;
  let report: {
    replies: { [cell: string]: { status: string; ename?: string } };
    ended: string[];
    stdout: { [cell: string]: string };
    interrupt_reply: { status: string };
  };

  beforeAll(async () => {
    requirePython(['jupyter_client']);
    k = kernelEnv();
    const result = await run(
      PYTHON,
      [path.join(__dirname, 'interrupt_scope.py')],
      { env: k.env, timeoutMs: 300000 }
    );
    if (result.code !== 0) {
      throw new Error(
        `interrupt_scope.py failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`
      );
    }
    report = JSON.parse(result.stdout);
  }, 320000);
  afterAll(() => k?.dispose());

  it("stops the named notebook's cell of the interrupting tab, first", () => {
    expect(report.interrupt_reply.status).toBe('ok');
    expect(report.replies.A).toMatchObject({
      status: 'error',
      ename: 'KeyboardInterrupt'
    });
    expect(report.ended[0]).toBe('A');
    expect(report.stdout.A).toBe('A start\n');
  });

  it("lets another notebook's cell and another tab's cell of the same notebook finish", () => {
    expect(report.replies.B?.status).toBe('ok');
    expect(report.replies.C?.status).toBe('ok');
    expect(report.stdout.B).toBe('B start\nB done\n');
    expect(report.stdout.C).toBe('C start\nC done\n');
  });
});
