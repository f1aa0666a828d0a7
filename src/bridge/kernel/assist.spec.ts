import { inspect } from './assist';

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
