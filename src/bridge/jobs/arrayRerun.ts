/**
 * `%cluster rerun ID ELEMENT`: the cell of one element of an array job,
 * read back from the job's own bundle.json on the cluster (the same code,
 * options and value), to run again alone as a new job.
 */
import type { IJobInfo } from '../../shared/jobs';
import type { IJobRequest } from '../../shared/magic';
import type { ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';
import type { IJobBundle } from './bundle';

/** What a rerun submits: one element, shown with its original index. */
export interface IElementCell {
  request: IJobRequest;
  code: string;
  lineOffset: number;
  executionCount?: number;
  index: number;
  value: string | number;
}

export class RerunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RerunError';
  }
}

/** Element `index` (as the job's summary shows it) of array job `job`. */
export async function elementCell(
  transport: ITransport,
  job: IJobInfo,
  index: number
): Promise<IElementCell> {
  const path = `${job.remoteDir}/bundle.json`;
  const read = await transport.exec(`cat ${shellQuote(path)}`);
  if (read.code !== 0) {
    throw new RerunError(
      `job ${job.id}'s folder on ${job.cluster} has no bundle.json (was it cleaned?): ` +
        (read.stderr.trim() || `exit ${read.code}`)
    );
  }
  let bundle: IJobBundle;
  try {
    bundle = JSON.parse(read.stdout) as IJobBundle;
  } catch {
    throw new RerunError(`job ${job.id}'s bundle.json is not JSON`);
  }
  const array = bundle.request?.array;
  if (!array) {
    throw new RerunError(
      `job ${job.id} is not an array job (no --array): run its cell again instead`
    );
  }
  const shown = bundle.arrayIndexes ?? array.values.map((_, k) => k);
  const at = shown.indexOf(index);
  if (at < 0) {
    throw new RerunError(
      `job ${job.id} has no element ${index}; its elements are ${Private.range(shown)}`
    );
  }
  const value = array.values[at];
  return {
    request: {
      ...bundle.request,
      array: { name: array.name, values: [value] },
      maxParallel: undefined
    },
    code: bundle.code,
    lineOffset: bundle.lineOffset,
    executionCount: bundle.executionCount,
    index,
    value
  };
}

namespace Private {
  export function range(indexes: number[]): string {
    const contiguous = indexes.every((v, i) => v === indexes[0] + i);
    return contiguous && indexes.length > 2
      ? `${indexes[0]} to ${indexes[indexes.length - 1]}`
      : indexes.join(', ');
  }
}
