/**
 * Resolves where and how to connect for an SSH cluster: the cluster's own
 * fields first, then ~/.ssh/config (Host patterns, via npm ssh-config), then
 * ssh's defaults (port 22, the local user, ~/.ssh/id_ed25519, id_ecdsa,
 * id_rsa, ~/.ssh/known_hosts + /etc/ssh/ssh_known_hosts). Pure: file reading
 * is injected so tests need no home directory.
 */
import * as os from 'os';
import * as path from 'path';
import SSHConfig from 'ssh-config';
import type { IClusterConfig } from '../../shared/config';
import { TransportError } from './errors';
import { readSshConfigText } from './sshInclude';

/** One machine to reach (the target or a ProxyJump hop). */
export interface ISshEndpoint {
  /** The name the user wrote (alias), for messages. */
  alias: string;
  /** Host name or address to connect to (HostName). */
  host: string;
  port: number;
  user: string;
  /** Candidate identity files, absolute, in order (may not exist). */
  identityFiles: string[];
  /** True when identity files came from config (not ssh's defaults): missing ones are errors. */
  identityFilesExplicit: boolean;
  /** IdentitiesOnly yes: do not offer ssh-agent keys. */
  identitiesOnly: boolean;
  /** known_hosts files to check, in order; the first is where new keys are recorded. */
  knownHostsFiles: string[];
  /** StrictHostKeyChecking from ssh config ('yes' | 'no' | 'ask' | 'accept-new'); undefined = ask. */
  strictHostKeyChecking?: string;
  /** ConnectTimeout in ms, when configured. */
  connectTimeoutMs?: number;
  /** ServerAliveInterval in ms, when configured. */
  keepaliveMs?: number;
  /** HashKnownHosts yes: record accepted keys with hashed names. */
  hashKnownHosts: boolean;
  /** HostKeyAlias, when configured: the name looked up in known_hosts. */
  hostKeyAlias?: string;
  /** Whether keyboard-interactive / password may be tried (KbdInteractiveAuthentication, PasswordAuthentication). */
  kbdInteractive: boolean;
  password: boolean;
}

/** The target plus the hops to go through, first hop first. */
export interface ISshRoute {
  target: ISshEndpoint;
  jumps: ISshEndpoint[];
}

export interface ISshConfigSources {
  /** ssh config text (default: ~/.ssh/config when it exists). */
  sshConfigText?: string;
  /** Local home (default os.homedir()). */
  home?: string;
  /** Local user name (default os.userInfo().username). */
  localUser?: string;
}

export const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** Reads ~/.ssh/config, its Includes expanded (or nothing), into sources for resolveRoute(). */
export function defaultSources(): ISshConfigSources {
  const home = os.homedir();
  const file = path.join(home, '.ssh', 'config');
  return { sshConfigText: readSshConfigText(file, home), home };
}

/**
 * Resolves the route for a cluster. `name` is the cluster name, used as the
 * host when the config has none (an ~/.ssh/config alias).
 */
export function resolveRoute(
  name: string,
  config: IClusterConfig,
  sources: ISshConfigSources = defaultSources()
): ISshRoute {
  const parsed = Private.parse(sources.sshConfigText);
  const home = sources.home ?? os.homedir();
  const localUser = sources.localUser ?? Private.localUser();
  const alias = config.host ?? name;
  const target = resolveEndpoint(alias, parsed, home, localUser, {
    port: config.port,
    user: config.user,
    identityFile: config.identityFile,
    knownHostsFile: config.knownHostsFile
  });
  const jumpSpec =
    config.proxyJump ??
    Private.first(parsed?.compute(alias, Private.COMPUTE).proxyjump);
  const jumps: ISshEndpoint[] = [];
  if (jumpSpec && jumpSpec.toLowerCase() !== 'none') {
    for (const hop of jumpSpec
      .split(',')
      .map(s => s.trim())
      .filter(Boolean)) {
      const spec = parseJumpSpec(hop);
      jumps.push(
        resolveEndpoint(spec.host, parsed, home, localUser, {
          port: spec.port,
          user: spec.user,
          // Hops verify against the same known_hosts as the target when the cluster names one,
          // and use the cluster's key when ~/.ssh/config names none for them.
          knownHostsFile: config.knownHostsFile,
          fallbackIdentityFile: config.identityFile
        })
      );
    }
  }
  return { target, jumps };
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, IPv6 in brackets. */
export function parseJumpSpec(spec: string): {
  user?: string;
  host: string;
  port?: number;
} {
  let rest = spec.startsWith('ssh://') ? spec.slice(6) : spec;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let host = rest;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracket) {
    host = bracket[1];
    port = bracket[2] ? Number(bracket[2]) : undefined;
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0 && rest.indexOf(':') === colon) {
      host = rest.slice(0, colon);
      port = Number(rest.slice(colon + 1));
    }
  }
  if (
    !host ||
    (port !== undefined &&
      !(Number.isInteger(port) && port > 0 && port < 65536))
  ) {
    throw new TransportError(
      'config',
      `invalid ProxyJump hop: ${JSON.stringify(spec)}`
    );
  }
  return { user: user || undefined, host, port };
}

/**
 * Expands ~ and the cheap ssh tokens: %d local home, %u local user, %h remote
 * host, %r remote user, %p port, %n original alias, %% a percent sign.
 */
export function expandPath(
  value: string,
  tokens: {
    home: string;
    localUser: string;
    host: string;
    user: string;
    port: number;
    alias: string;
  }
): string {
  let s = value.replace(/%([%dhnpru])/g, (_m, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return tokens.home;
      case 'u':
        return tokens.localUser;
      case 'h':
        return tokens.host;
      case 'r':
        return tokens.user;
      case 'p':
        return String(tokens.port);
      case 'n':
        return tokens.alias;
    }
    return _m;
  });
  if (s === '~') {
    s = tokens.home;
  } else if (s.startsWith('~/')) {
    s = path.join(tokens.home, s.slice(2));
  }
  return path.isAbsolute(s) ? s : path.join(tokens.home, '.ssh', s);
}

function resolveEndpoint(
  alias: string,
  parsed: SSHConfig | undefined,
  home: string,
  localUser: string,
  overrides: {
    port?: number;
    user?: string;
    identityFile?: string;
    /** Used when neither the cluster nor ~/.ssh/config names an identity (ProxyJump hops). */
    fallbackIdentityFile?: string;
    knownHostsFile?: string;
  }
): ISshEndpoint {
  const c = parsed ? parsed.compute(alias, Private.COMPUTE) : {};
  const host = Private.first(c.hostname) ?? alias;
  const port = overrides.port ?? Private.num(Private.first(c.port)) ?? 22;
  const user = overrides.user ?? Private.first(c.user) ?? localUser;
  const tokens = { home, localUser, host, user, port, alias };
  const fromConfig = Private.all(c.identityfile).filter(
    f => f.toLowerCase() !== 'none'
  );
  const configured = overrides.identityFile
    ? [overrides.identityFile]
    : fromConfig.length || !overrides.fallbackIdentityFile
      ? fromConfig
      : [overrides.fallbackIdentityFile];
  const identityFilesExplicit = configured.length > 0;
  const identityFiles = (
    identityFilesExplicit
      ? configured
      : DEFAULT_IDENTITIES.map(f => `~/.ssh/${f}`)
  ).map(f => expandPath(f, tokens));
  const userKnown = overrides.knownHostsFile
    ? [overrides.knownHostsFile]
    : Private.all(c.userknownhostsfile)
        .flatMap(v => v.split(/\s+/))
        .filter(Boolean);
  const knownHostsFiles = (
    userKnown.length ? userKnown : ['~/.ssh/known_hosts']
  ).map(f => expandPath(f, tokens));
  if (!overrides.knownHostsFile) {
    const global = Private.all(c.globalknownhostsfile).flatMap(v =>
      v.split(/\s+/)
    );
    knownHostsFiles.push(
      ...(global.length ? global : ['/etc/ssh/ssh_known_hosts']).map(f =>
        expandPath(f, tokens)
      )
    );
  }
  const timeout = Private.num(Private.first(c.connecttimeout));
  const alive = Private.num(Private.first(c.serveraliveinterval));
  return {
    alias,
    host,
    port,
    user,
    identityFiles,
    identityFilesExplicit,
    identitiesOnly: Private.yes(Private.first(c.identitiesonly)),
    knownHostsFiles,
    strictHostKeyChecking: Private.first(
      c.stricthostkeychecking
    )?.toLowerCase(),
    connectTimeoutMs: timeout ? timeout * 1000 : undefined,
    keepaliveMs: alive ? alive * 1000 : undefined,
    hashKnownHosts: Private.yes(Private.first(c.hashknownhosts)),
    hostKeyAlias: Private.first(c.hostkeyalias),
    kbdInteractive:
      Private.first(c.kbdinteractiveauthentication)?.toLowerCase() !== 'no',
    password: Private.first(c.passwordauthentication)?.toLowerCase() !== 'no'
  };
}

namespace Private {
  /** Lower-case keys; never run `Match exec` commands from the kernel. */
  export const COMPUTE = { ignoreCase: true, matchExec: false };

  export function parse(text: string | undefined): SSHConfig | undefined {
    if (!text) {
      return undefined;
    }
    try {
      return SSHConfig.parse(text);
    } catch (err) {
      throw new TransportError(
        'config',
        `cannot parse ~/.ssh/config: ${(err as Error).message}`,
        err
      );
    }
  }

  export function first(v: string | string[] | undefined): string | undefined {
    return Array.isArray(v) ? v[0] : v;
  }

  export function all(v: string | string[] | undefined): string[] {
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }

  export function num(v: string | undefined): number | undefined {
    if (v === undefined) {
      return undefined;
    }
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }

  export function yes(v: string | undefined): boolean {
    return v?.toLowerCase() === 'yes';
  }

  export function localUser(): string {
    try {
      return os.userInfo().username;
    } catch {
      return process.env.USER ?? 'root';
    }
  }
}
