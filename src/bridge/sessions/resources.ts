/**
 * What a session's resources are, as a %%cluster line shows them, and the
 * rule for later cells: they may repeat an option or leave it out, never
 * change it.
 */
import { MAGIC_OPTIONS, type IJobRequest } from '../../shared/magic';

/** The options fixed when a session starts (everything that shapes its process or allocation). */
const RESOURCE_FIELDS: (keyof IJobRequest)[] = [
  'gpus',
  'cpus',
  'mem',
  'time',
  'partition',
  'account',
  'qos',
  'constraint',
  'env',
  'packages',
  'scheduler'
];

/** The resource options of a request, in the usage order: `--gpus 1 --time 01:00:00`. */
export function resourcesText(request: IJobRequest): string {
  const parts: string[] = [];
  for (const opt of MAGIC_OPTIONS) {
    if (!RESOURCE_FIELDS.includes(opt.field)) {
      continue;
    }
    const value = request[opt.field];
    if (value === undefined) {
      continue;
    }
    const text = Array.isArray(value) ? value.join(',') : String(value);
    parts.push(
      `--${opt.name} ${/^[\w.:,@+-]+$/.test(text) ? text : JSON.stringify(text)}`
    );
  }
  return parts.join(' ');
}

/** Only the resource fields of a request (what a session record keeps). */
export function resourcesOf(request: IJobRequest): IJobRequest {
  const kept: Record<string, unknown> = {};
  for (const field of RESOURCE_FIELDS) {
    if (request[field] !== undefined) {
      kept[field] = request[field];
    }
  }
  return kept as IJobRequest;
}

/** The options of `request` that differ from the session's; [] when the cell may join it. */
export function conflictingOptions(
  session: IJobRequest,
  request: IJobRequest
): string[] {
  const differ: string[] = [];
  for (const opt of MAGIC_OPTIONS) {
    if (!RESOURCE_FIELDS.includes(opt.field)) {
      continue;
    }
    const wanted = request[opt.field];
    if (wanted === undefined) {
      continue;
    }
    if (JSON.stringify(wanted) !== JSON.stringify(session[opt.field])) {
      differ.push(`--${opt.name}`);
    }
  }
  return differ;
}

/** Seconds of a normalized --time value (SLURM forms: MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]). */
export function timeLimitSeconds(value: string): number {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(value);
  if (!m) {
    throw new Error(`not a time limit: ${JSON.stringify(value)}`);
  }
  const [, days, a, b, c] = m;
  const nums = [a, b, c]
    .filter((p): p is string => p !== undefined)
    .map(p => parseInt(p, 10));
  if (days !== undefined) {
    const [h, min = 0, s = 0] = nums;
    return ((parseInt(days, 10) * 24 + h) * 60 + min) * 60 + s;
  }
  if (nums.length === 1) {
    return nums[0] * 60;
  }
  if (nums.length === 2) {
    return nums[0] * 60 + nums[1];
  }
  return (nums[0] * 60 + nums[1]) * 60 + nums[2];
}
