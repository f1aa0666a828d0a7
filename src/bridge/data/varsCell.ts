/**
 * One cell's `--in`/`--out` on the bridge: before the cell, the skew check
 * against the remote Python and the upload into `<workDir>/vars/<job>-in`
 * (the runner sets the values, then removes the folder); after a cell that
 * ended without error, the download of `<job>-out` into a new private local
 * folder and the import step for the notebook's kernel.
 */
import type { IVarsManifest } from '../../shared/data';
import type { IJobBundle } from '../jobs/bundle';
import type { IOpenCluster } from '../jobs/context';
import type { IRunOutcome, IVarsAsk } from '../jobs/types';
import { importStep, readManifest, VarsFolders } from './varsLocal';
import {
  downloadVars,
  removeRemote,
  uploadVars,
  VarsInterrupted
} from './varsTransfer';
import { checkSkew, outProtocol, type IPythonVersions } from './varsVersions';

/** Where the remote Python's versions come from (a session's `versions` op, a probe). */
export type VersionsSource = () => Promise<IPythonVersions | undefined>;

export class CellVars {
  constructor(
    private readonly _open: IOpenCluster,
    jobId: string,
    private readonly _ask: IVarsAsk,
    private readonly _folders: VarsFolders
  ) {
    this._base = `${_open.runtime.workDir}/vars/${jobId}`;
  }

  /**
   * Before the cell runs: refuses on version skew before anything is sent,
   * then uploads and names the folders in the bundle. The local `--in`
   * folder is removed either way.
   */
  async send(
    bundle: IJobBundle,
    versions: VersionsSource,
    signal?: AbortSignal
  ): Promise<void> {
    const { inDir, out } = this._ask;
    let manifest: IVarsManifest | undefined;
    let remote: IPythonVersions | undefined;
    try {
      if (inDir) {
        manifest = readManifest(inDir);
        remote = await versions();
        if (remote) {
          checkSkew(manifest, remote, this._open.cluster.name);
        }
        const dir = `${this._base}-in`;
        // An interrupt stops the upload (mid-file for large values): the cell does not start.
        await uploadVars(this._open, inDir, manifest, dir, signal);
        if (signal?.aborted) {
          await removeRemote(this._open.transport, dir);
          throw new VarsInterrupted('sending');
        }
        bundle.varsIn = dir;
      }
    } finally {
      if (inDir) {
        await this._folders.remove(inDir);
      }
    }
    if (out?.length) {
      remote ??= await versions().catch(() => undefined);
      bundle.varsOut = {
        names: out,
        dir: `${this._base}-out`,
        protocol: outProtocol(remote, manifest),
        deflate: this._open.cluster.config.type !== 'local'
      };
    }
  }

  /**
   * After the cell: the import step when it ended without error; the remote
   * folders go (the `-in` one too: array elements and ranks leave it).
   */
  async receive(
    outcome: IRunOutcome,
    signal?: AbortSignal
  ): Promise<IRunOutcome> {
    if (!this._ask.out?.length) {
      if (this._ask.inDir) {
        await removeRemote(this._open.transport, `${this._base}-in`);
      }
      return outcome;
    }
    const remoteDir = `${this._base}-out`;
    try {
      if (outcome.status !== 'ok') {
        return outcome;
      }
      const local = await this._folders.create();
      try {
        await downloadVars(this._open, remoteDir, local, signal);
      } catch (err) {
        await this._folders.remove(local);
        if (err instanceof VarsInterrupted) {
          throw err;
        }
        throw new Error(
          `the --out values did not come back from ${this._open.cluster.name}: ${(err as Error).message}; nothing was set`
        );
      }
      return {
        ...outcome,
        varsOut: importStep(local, !!this._open.cluster.config.trustPickle)
      };
    } finally {
      await removeRemote(
        this._open.transport,
        remoteDir,
        ...(this._ask.inDir ? [`${this._base}-in`] : [])
      );
    }
  }

  private _base: string;
}
