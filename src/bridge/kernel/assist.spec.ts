import { inspect, isComplete } from './assist';

describe('isComplete', () => {
  it.each([
    ['print(1)', 'complete', undefined],
    ['', 'complete', undefined],
    ['x = 1\ny = 2', 'complete', undefined],
    ['for i in range(3):', 'incomplete', '    '],
    ['def f():\n    return 1', 'incomplete', '    '],
    ['def f():\n    return 1\n\n', 'complete', undefined],
    ['print((1,', 'incomplete', ''],
    ['x = """abc', 'incomplete', ''],
    ['x = 1 + \\', 'incomplete', ''],
    ['s = "a # b"', 'complete', undefined],
    ['x = (1  # comment )\n', 'incomplete', ''],
    [')', 'invalid', undefined],
    ['x = [1, 2)', 'invalid', undefined],
    ['s = "abc', 'invalid', undefined],
    ['%cluster list', 'complete', undefined],
    ['%%cluster local', 'incomplete', ''],
    ['%%cluster local\nprint(1)', 'incomplete', ''],
    ['%%cluster local\nprint(1)\n\n', 'complete', undefined]
  ])('%j is %s', (code, status, indent) => {
    const r = isComplete(code);
    expect(r.status).toBe(status);
    expect(r.indent).toBe(indent);
  });
});

describe('inspect', () => {
  it('explains the option or command under the cursor, else the whole usage', () => {
    expect(inspect('%%cluster --gpus 1', 12).data['text/plain']).toBe(
      '--gpus N: GPUs to request (integer >= 0)'
    );
    expect(inspect('%%cluster --mem=4G', 12).data['text/plain']).toMatch(
      /^--mem SIZE/
    );
    expect(inspect('%cluster doctor', 11).data['text/plain']).toMatch(
      /^%cluster doctor NAME\?: check a cluster/
    );
    expect(inspect('%%cluster', 3).data['text/plain']).toMatch(
      /^Usage: %%cluster/
    );
    expect(inspect('print(1)', 3)).toEqual({ found: false, data: {} });
  });
});
