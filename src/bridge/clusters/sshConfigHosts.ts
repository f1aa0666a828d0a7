/**
 * Clusters from ~/.ssh/config: every Host alias without wildcards or
 * negation becomes an ssh cluster of that name. The transport resolves
 * HostName, User, Port, IdentityFile and ProxyJump itself.
 */
import * as os from 'os';
import * as path from 'path';
import SSHConfig from 'ssh-config';

import type { IClusterConfig } from '../../shared/config';
import { readSshConfigText } from '../transport/sshInclude';

export interface ISshHost {
  alias: string;
  config: IClusterConfig;
}

/**
 * Reads the file with its Includes expanded; a missing file means no hosts.
 * Parse errors are thrown.
 */
export function readSshConfigHosts(file: string): ISshHost[] {
  // Relative Includes are under the ~/.ssh the file is in (else the user's).
  const dir = path.dirname(path.resolve(file));
  const home = path.basename(dir) === '.ssh' ? path.dirname(dir) : os.homedir();
  const text = readSshConfigText(file, home);
  return text === undefined ? [] : parseSshConfigHosts(text);
}

export function parseSshConfigHosts(text: string): ISshHost[] {
  const parsed = SSHConfig.parse(text);
  const seen = new Set<string>();
  const hosts: ISshHost[] = [];
  for (const line of parsed) {
    const directive = line as { param?: string; value?: unknown };
    if (!directive.param || directive.param.toLowerCase() !== 'host') {
      continue;
    }
    for (const alias of Private.values(directive.value)) {
      if (!Private.isPlain(alias) || seen.has(alias)) {
        continue;
      }
      seen.add(alias);
      const computed = parsed.compute(alias) as { [key: string]: unknown };
      const hostName = Private.first(computed.HostName);
      const user = Private.first(computed.User);
      const target = `${user ? user + '@' : ''}${hostName ?? alias}`;
      hosts.push({
        alias,
        config: { type: 'ssh', host: alias, description: `ssh ${target}` }
      });
    }
  }
  return hosts;
}

namespace Private {
  export function values(value: unknown): string[] {
    if (typeof value === 'string') {
      return value.split(/\s+/).filter(Boolean);
    }
    if (Array.isArray(value)) {
      return value.map(v =>
        typeof v === 'string' ? v : String((v as { val: string }).val)
      );
    }
    return [];
  }

  /** A concrete alias: no glob characters, no negation. */
  export function isPlain(alias: string): boolean {
    return alias.length > 0 && !/[*?!,]/.test(alias);
  }

  export function first(value: unknown): string | undefined {
    if (typeof value === 'string') {
      return value;
    }
    if (Array.isArray(value) && typeof value[0] === 'string') {
      return value[0];
    }
    return undefined;
  }
}
