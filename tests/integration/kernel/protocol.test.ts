/**
 * jupyter_kernel_test (Debian python3-jupyter-kernel-test 0.4.5) against the
 * installed `cluster-bridge` kernelspec, run with Debian's Python, with the
 * samples a Python kernel's suite has (test_kernel_protocol.py); the jest
 * test fails when any of its tests fails or when one that must run is skipped.
 * Only the pager and clear_output are skipped: the bridge has neither.
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

describe('jupyter_kernel_test', () => {
  let k: IKernelEnv;

  beforeAll(() => {
    requirePython(['jupyter_kernel_test', 'jupyter_client']);
    k = kernelEnv();
  });
  afterAll(() => k?.dispose());

  it('passes the protocol test suite', async () => {
    const result = await run(
      PYTHON,
      ['-m', 'unittest', '-v', path.join(HERE, 'test_kernel_protocol.py')],
      { env: k.env, cwd: HERE, timeoutMs: 400000 }
    );
    const report = `${result.stdout}\n${result.stderr}`;
    if (result.code !== 0) {
      throw new Error(
        `jupyter_kernel_test failed (exit ${result.code}):\n${report}`
      );
    }
    // The suite ran the tests this kernel supports rather than skipping them.
    for (const name of [
      'test_kernel_info',
      'test_execute_stdout',
      'test_execute_stderr',
      'test_completion',
      'test_is_complete',
      'test_error',
      'test_execute_result',
      'test_display_data',
      'test_history',
      'test_inspect',
      'test_error_of_a_cluster_magic',
      'test_outputs_are_only_the_cells_own'
    ]) {
      expect(report).toMatch(new RegExp(`${name} \\(.*\\) \\.\\.\\. ok`));
    }
    // test_pager and test_clear_output, nothing else.
    expect(report).toMatch(/^OK \(skipped=2\)$/m);
  }, 420000);
});
