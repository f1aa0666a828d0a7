/**
 * `%cluster rerun ID ELEMENT`: runs one element of an array job again, alone,
 * as a new job with the same code, cluster, options and value; the cell
 * shows its outcome as an array cell of one element.
 */
import type { IExecuteContext, IExecuteOutcome } from './handler';
import type { IKernelServices } from './services';
import type { IOutputSink } from '../jobs/types';

export async function rerunCommand(
  services: IKernelServices,
  ctx: IExecuteContext,
  args: string[],
  sink: IOutputSink
): Promise<IExecuteOutcome> {
  const [jobId, element] = args;
  const index = Number(element);
  if (!jobId || !Number.isInteger(index) || index < 0) {
    throw new Error(
      `%cluster rerun ID ELEMENT: ELEMENT is an element's index (0, 1, ...), got ${JSON.stringify(element)}`
    );
  }
  if (!services.jobs.rerunElement) {
    throw new Error('rerun is not available in this build of the bridge');
  }
  const outcome = await services.jobs.rerunElement(jobId, index, {
    sink,
    prompter: ctx.prompter,
    signal: ctx.signal
  });
  return { status: outcome.status };
}
