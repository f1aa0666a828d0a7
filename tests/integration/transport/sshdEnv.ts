/**
 * Facts about the real sshd started by scripts/services/sshd.sh, for
 * integration tests. Throws (so the test FAILS) when the service is missing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { IClusterConfig } from '../../../src/shared/config';
import {
  SshTransport,
  type ISshTransportOptions
} from '../../../src/bridge/transport/ssh';

export interface ISshdEnv {
  SSHD_HOST: string;
  SSHD_PORT: string;
  SSHD_JUMP_PORT: string;
  SSHD_KBD_PORT: string;
  SSHD_USER: string;
  SSHD_HOME: string;
  SSHD_KEY: string;
  SSHD_KEY_ENCRYPTED: string;
  SSHD_KEY_PASSPHRASE: string;
  SSHD_KEY_WRONG: string;
  SSHD_PASSWORD: string;
  SSHD_HOST_KEY_PUB: string;
  SSHD_JUMP_HOST_KEY_PUB: string;
  SSHD_KNOWN_HOSTS: string;
  SSHD_SSH_CONFIG: string;
  SSHD_LOG: string;
  SSHD_JUMP_LOG: string;
  SSHD_KBD_LOG: string;
  [key: string]: string;
}

const ENV_FILE = path.resolve(__dirname, '../../../.cache/services/sshd.env');

export function loadSshdEnv(): ISshdEnv {
  if (!fs.existsSync(ENV_FILE)) {
    throw new Error(
      `the sshd test service is not running: ${ENV_FILE} is missing. Start it with \`scripts/services/sshd.sh start\` (as root).`
    );
  }
  const env: { [key: string]: string } = {};
  for (const line of fs.readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) {
      env[m[1]] = m[2];
    }
  }
  for (const key of [
    'SSHD_PORT',
    'SSHD_USER',
    'SSHD_KEY',
    'SSHD_KNOWN_HOSTS'
  ]) {
    if (!env[key]) {
      throw new Error(
        `${ENV_FILE} has no ${key}: restart scripts/services/sshd.sh`
      );
    }
  }
  return env as ISshdEnv;
}

/** The cluster config of the real target sshd. */
export function targetConfig(
  env: ISshdEnv,
  extra: Partial<IClusterConfig> = {}
): IClusterConfig {
  return {
    type: 'ssh',
    host: env.SSHD_HOST,
    port: Number(env.SSHD_PORT),
    user: env.SSHD_USER,
    identityFile: env.SSHD_KEY,
    knownHostsFile: env.SSHD_KNOWN_HOSTS,
    ...extra
  };
}

/** A transport that ignores this machine's ~/.ssh/config and ssh-agent. */
export function targetTransport(
  env: ISshdEnv,
  extra: Partial<IClusterConfig> = {},
  options: ISshTransportOptions = {},
  name = 'itest'
): SshTransport {
  return new SshTransport(name, targetConfig(env, extra), {
    sources: { home: os.tmpdir(), localUser: env.SSHD_USER },
    agent: null,
    ...options
  });
}
