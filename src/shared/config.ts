/**
 * Cluster configuration: the shape of the CLUSTER_BRIDGE_CONFIG file, of the
 * `clusters` JupyterLab setting, and of what the bridge's registry resolves.
 * The JSON Schema in schema/cluster-config.schema.json mirrors these types.
 */

export type SchedulerKind = 'direct' | 'slurm' | 'sge' | 'pbs';

export type ClusterType = 'ssh' | 'local';

/** How VENV2 (the execution environment) is built. Hashed to name the env. */
export interface IEnvSpec {
  /** Python version for conda (`python=3.11`) or interpreter path/name for a venv. */
  python?: string;
  /** conda channels, in priority order. */
  channels?: string[];
  /** conda packages (`pytorch`, `pytorch-cuda=12.4`, ...). */
  conda?: string[];
  /** pip packages installed after the conda ones (or into the venv). */
  pip?: string[];
  /** Shell lines run before building and before each run (`module load cuda/12.4`). */
  setup?: string[];
  /** For a plain venv: let it see the base interpreter's packages. Default true. */
  systemSitePackages?: boolean;
  /** 'auto' (conda when found, else venv), 'conda' or 'venv'. Default: the cluster's envKind. */
  manager?: EnvKind;
}

/** Scheduler defaults of a cluster; magic options override them per cell. */
export interface ISchedulerDefaults {
  partition?: string;
  account?: string;
  qos?: string;
  time?: string;
  mem?: string;
  cpus?: number;
  gpus?: number;
  constraint?: string;
  /** SLURM: request GPUs as `--gres=gpu:N` (default) or `--gpus=N`. */
  gpuFlag?: 'gres' | 'gpus';
  /** Grid Engine: the parallel environment a distributed cell's slots come from (`-pe NAME N`). */
  parallelEnvironment?: string;
  /** Extra directive lines, written verbatim after the generated ones (`#SBATCH --exclusive`). */
  directives?: string[];
  /** Shell lines in the job script before the agent starts (`module load ...`). */
  setup?: string[];
}

export interface IClusterConfig {
  type: ClusterType;
  /** Host name or ~/.ssh/config alias. Defaults to the cluster name for ssh clusters. */
  host?: string;
  port?: number;
  user?: string;
  identityFile?: string;
  /** Comma-separated jump hosts, as in ssh's ProxyJump. */
  proxyJump?: string;
  /** known_hosts file to verify against (default ~/.ssh/known_hosts). */
  knownHostsFile?: string;
  scheduler?: SchedulerKind;
  /** Remote working directory (default ~/.cluster-bridge). Must be on a shared filesystem. */
  workDir?: string;
  /** Remote system Python used to build VENV1 (default python3). */
  python?: string;
  description?: string;
  /** Default VENV2 spec. */
  env?: IEnvSpec;
  /** Named VENV2 specs, chosen with `--env NAME`. */
  envs?: { [name: string]: IEnvSpec };
  /** Scheduler defaults. */
  defaults?: ISchedulerDefaults;
  /** Sessions: idle timeout and the time-limit warning. */
  session?: ISessionOptions;
  /**
   * What VENV2 is when an env spec names no `manager`: 'auto' (conda when
   * the remote has it, else a venv; the doctor and the build log say which
   * and why), 'conda' or 'venv'. Default 'auto'.
   */
  envKind?: EnvKind;
  /**
   * Batch clusters: build VENV2 on the login node before submitting (the
   * default, 'login': compute nodes are often offline, and a build there
   * spends the job's time) or inside the job ('compute').
   */
  buildEnvOn?: 'login' | 'compute';
  /**
   * A folder, relative to the notebook's, mirrored to the cluster before
   * every cell that gives no `--sync` (the cell runs in the mirror).
   */
  sync?: string;
  /** What the work dir keeps; `false` turns the daily automatic clean off. */
  retention?: IRetention | false;
  /**
   * `--out`/pull: load any pickle this cluster sends back. Default false:
   * only numpy, pandas and builtin data types (a compromised or shared
   * account cannot run code in the notebook's kernel).
   */
  trustPickle?: boolean;
}

export type EnvKind = 'auto' | 'conda' | 'venv';

/** Days kept after the last use; `%cluster clean NAME` applies them too. */
export interface IRetention {
  /** Ended job directories. Default 7. */
  jobsDays?: number;
  /** Runtimes of other bridge versions. Default 7. */
  runtimesDays?: number;
  /** VENV2 envs no job or session used. Default 30. */
  envsDays?: number;
}

/** Per-cluster session settings (seconds). */
export interface ISessionOptions {
  /** No cell for this long ends the session (0: never). Default 3 h. */
  idleTimeout?: number;
  /** Warn running cells this long before the allocation's time limit. Default 5 min. */
  warnBefore?: number;
}

/** The CLUSTER_BRIDGE_CONFIG file. */
export interface IClustersFile {
  default?: string;
  clusters: { [name: string]: IClusterConfig };
}

/** A cluster as the registry resolved it: where it came from, and its effective config. */
export interface IResolvedCluster {
  name: string;
  source: 'builtin' | 'ssh-config' | 'file' | 'settings';
  config: IClusterConfig;
}

export type ConnectionState =
  'disconnected' | 'connecting' | 'connected' | 'error';

/** What the frontend shows for one cluster. */
export interface IClusterInfo {
  name: string;
  source: IResolvedCluster['source'];
  type: ClusterType;
  scheduler: SchedulerKind;
  description?: string;
  state: ConnectionState;
  /** Last connection error, human readable. */
  error?: string;
}

export const LOCAL_CLUSTER_NAME = 'local';
