/**
 * `--in`/`--out` and `%cluster push/pull` in the kernel: what a cell's
 * execute metadata must carry (src/shared/data.ts), the `--out` step put
 * into the execute_reply's metadata, and push/pull as cells with only
 * `--in` / only `--out` in the notebook's session.
 */
import { VARS_IN_METADATA_KEY, VARS_OUT_METADATA_KEY } from '../../shared/data';
import type { IJobRequest } from '../../shared/magic';
import { readManifest, varsFolders } from '../data/varsLocal';
import type { IRunOutcome, IVarsAsk } from '../jobs/types';
import type { ISessionService } from './services';
import type { JSONObject } from './wire';

/** Where --in/--out work, for every refusal elsewhere. */
export const VARS_WHERE =
  'they work in JupyterLab, from a %%cluster cell of a notebook with its own Python kernel ' +
  '(the values move between that kernel and the cluster); this client has no local kernel';

/** The cell's variables to move, checked against its execute metadata; undefined when none. */
export function varsAsk(
  request: IJobRequest,
  metadata: JSONObject | undefined
): IVarsAsk | undefined {
  const { inVars, outVars } = request;
  if (!inVars?.length && !outVars?.length) {
    return undefined;
  }
  const md = metadata ?? {};
  const ask: IVarsAsk = {};
  if (inVars?.length) {
    if (md[VARS_IN_METADATA_KEY] === undefined) {
      throw new Error(`--in cannot be used here: ${VARS_WHERE}`);
    }
    const dir = varsFolders().checked(md[VARS_IN_METADATA_KEY]);
    const sent = readManifest(dir)
      .vars.map(v => v.name)
      .sort();
    const asked = [...inVars].sort();
    if (sent.join(',') !== asked.join(',')) {
      throw new Error(
        `the --in folder holds ${sent.join(', ') || 'nothing'}, the cell asks for ${asked.join(', ')}; nothing was sent`
      );
    }
    ask.inDir = dir;
  }
  if (outVars?.length) {
    if (md[VARS_OUT_METADATA_KEY] !== true) {
      throw new Error(`--out cannot be used here: ${VARS_WHERE}`);
    }
    ask.out = [...outVars];
  }
  return ask;
}

/** The execute_reply metadata of a cell whose --out values came back. */
export function varsReplyMetadata(
  outcome: IRunOutcome
): JSONObject | undefined {
  return outcome.varsOut
    ? {
        [VARS_OUT_METADATA_KEY]: outcome.varsOut as unknown as JSONObject
      }
    : undefined;
}

/** A cell that is `%cluster push NAME a,b` / `%cluster pull NAME c,d`. */
export interface IVarsLineCell {
  request: IJobRequest;
  code: string;
}

/**
 * push/pull as a session cell: push is a cell with only --in (it starts the
 * session when there is none), pull one with only --out.
 */
export function varsLineCell(
  command: string,
  args: string[],
  sessions: ISessionService | undefined,
  notebook: () => string
): IVarsLineCell {
  const [cluster, ...names] = args;
  if (!sessions) {
    throw new Error(
      `%cluster ${command} needs sessions, which this build of the bridge does not have`
    );
  }
  if (command === 'pull' && !sessions.find(notebook(), cluster)) {
    throw noSessionToPull(cluster);
  }
  const request: IJobRequest =
    command === 'push'
      ? { cluster, inVars: names }
      : { cluster, outVars: names };
  // The job's title in the jobs panel: what the user typed.
  return {
    request,
    code: `# %cluster ${command} ${cluster} ${names.join(',')}`
  };
}

/** pull reads a live session: none is a clear error (push starts one). */
function noSessionToPull(cluster: string): Error {
  return new Error(
    `This notebook has no live session on ${cluster}: there is nothing to pull. ` +
      `Run a %%cluster ${cluster} cell (or %cluster session ${cluster}) first.`
  );
}
