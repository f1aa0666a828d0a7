/**
 * Data in and out (`--in`/`--out`, `%cluster push/pull`): the contract
 * between the frontend, which runs code in the notebook's own kernel, and the
 * bridge, which moves the files. The bytes never pass through the browser:
 * both kernels run on the Jupyter server host and share a private folder.
 */

/**
 * Execute-request metadata key: the folder (on the Jupyter server host) where
 * the notebook's kernel wrote the `--in` values, with their manifest.json.
 * Absent: the request comes from a client without a local kernel (a Cluster
 * Bridge notebook, nbclient, the CLI), and `--in`/`--out` are refused there.
 */
export const VARS_IN_METADATA_KEY = 'cluster_bridge_vars_in';

/**
 * Execute-request metadata key: true when the frontend can load `--out`
 * values into the notebook's kernel (it reads the reply's VARS_OUT key).
 */
export const VARS_OUT_METADATA_KEY = 'cluster_bridge_vars_out';

/** What the bridge hands the frontend to run in the notebook's kernel (silently). */
export interface IVarsLocalStep {
  /** Private folder (0700) on the Jupyter server host. */
  dir: string;
  /** Python source to execute silently in the notebook's kernel. */
  code: string;
}

/** One value in a manifest.json. */
export interface IVarEntry {
  name: string;
  /** How it is encoded: npy (numpy, no pickle), pandas (pickle of a DataFrame/Series), pickle, json. */
  format: 'npy' | 'pandas' | 'pickle' | 'json';
  /** File name in the folder. */
  file: string;
  bytes: number;
  /** The value's type, `numpy.ndarray`, for messages. */
  type: string;
  /** How the file travelled, when not as is: `zblocks`, deflated blocks (src/bridge/data/varsDeflate.ts). */
  encoding?: 'zblocks';
}

/** manifest.json: written by whichever side encodes, read by the other before decoding. */
export interface IVarsManifest {
  /** `3.11.2` */
  python: string;
  /** Versions of the libraries the values need, only those sent (`{numpy: '1.24.2'}`). */
  libraries: { [name: string]: string };
  pickleProtocol: number;
  vars: IVarEntry[];
}
