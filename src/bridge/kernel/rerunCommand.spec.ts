import type { IJobManager, IOutputSink } from '../jobs/types';
import type { IExecuteContext } from './handler';
import { rerunCommand } from './rerunCommand';
import type { IKernelServices } from './services';

const sink = {} as IOutputSink;
const ctx = {
  signal: new AbortController().signal,
  prompter: { ask: async () => '' }
} as unknown as IExecuteContext;

const servicesWith = (jobs: Partial<IJobManager>) =>
  ({ jobs }) as unknown as IKernelServices;

describe('%cluster rerun', () => {
  it('runs the element through the job manager and ends as it ends', async () => {
    const rerunElement = jest.fn(async () => ({ status: 'error' as const }));
    const outcome = await rerunCommand(
      servicesWith({ rerunElement }),
      ctx,
      ['cb-abc-123', '2'],
      sink
    );
    expect(outcome).toEqual({ status: 'error' });
    expect(rerunElement).toHaveBeenCalledWith('cb-abc-123', 2, {
      sink,
      prompter: ctx.prompter,
      signal: ctx.signal
    });
  });

  it('refuses an element that is no index, running nothing', async () => {
    const rerunElement = jest.fn();
    await expect(
      rerunCommand(
        servicesWith({ rerunElement }),
        ctx,
        ['cb-abc-123', '-1'],
        sink
      )
    ).rejects.toThrow('ELEMENT is an element\'s index (0, 1, ...), got "-1"');
    expect(rerunElement).not.toHaveBeenCalled();
  });

  it('says so where the bridge cannot rerun', async () => {
    await expect(
      rerunCommand(servicesWith({}), ctx, ['cb-abc-123', '0'], sink)
    ).rejects.toThrow('rerun is not available in this build of the bridge');
  });
});
