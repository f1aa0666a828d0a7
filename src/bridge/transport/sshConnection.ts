/**
 * Opens one authenticated ssh2 connection along a route (ProxyJump hops
 * first: each next hop's socket is a forwardOut channel of the previous
 * one). Verifies host keys against known_hosts (asking about unknown keys,
 * refusing changed or revoked ones) and authenticates with ssh-agent,
 * identity files (passphrases asked), keyboard-interactive and password,
 * each prompt through the IPrompter. Errors name the host, user and port.
 */
import * as net from 'net';
import type { Duplex } from 'stream';
import {
  Client,
  type AnyAuthMethod,
  type AuthenticationType,
  type ParsedKey
} from 'ssh2';
import { TransportError } from './errors';
import { loadIdentities, parseIdentity, type IIdentity } from './identityFiles';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyName,
  keyTypeLabel,
  keyTypeOf,
  knownKeyTypes,
  readKnownHosts
} from './knownHosts';
import type { ISshEndpoint, ISshRoute } from './sshRoute';
import type { IPrompter } from './types';

export interface IConnectOptions {
  prompter?: IPrompter;
  /** Decrypted keys by file, kept in memory so a reconnect does not ask again. */
  keyCache: Map<string, ParsedKey>;
  /** Each step (TCP connect, handshake, one auth attempt) must finish within this; prompts do not count. */
  timeoutMs: number;
  keepaliveMs: number;
  /** ssh-agent socket (default SSH_AUTH_SOCK). */
  agent?: string;
  /** Debug lines (never secrets). */
  log?: (msg: string) => void;
}

export interface IConnection {
  client: Client;
  /** Hop clients, first hop first (closed with the target). */
  hops: Client[];
  /** Closes target and hops. */
  end(): void;
}

export async function connectRoute(
  route: ISshRoute,
  options: IConnectOptions
): Promise<IConnection> {
  const hops: Client[] = [];
  const closeAll = (): void => {
    for (const c of hops) {
      c.end();
    }
  };
  try {
    let sock: Duplex | undefined;
    const chain = [...route.jumps, route.target];
    for (let i = 0; i < chain.length; i++) {
      const endpoint = chain[i];
      const via = i > 0 ? chain[i - 1] : undefined;
      const client = await connectEndpoint(endpoint, sock, via, options);
      if (i === chain.length - 1) {
        // The target drops with any hop; a hop is useless without the target.
        for (const hop of hops) {
          hop.on('close', () => client.end());
        }
        client.on('close', closeAll);
        return { client, hops, end: () => (client.end(), closeAll()) };
      }
      hops.push(client);
      const next = chain[i + 1];
      sock = await new Promise<Duplex>((resolve, reject) => {
        client.forwardOut(
          '127.0.0.1',
          0,
          next.host,
          next.port,
          (err, stream) => {
            if (err) {
              reject(
                new TransportError(
                  'unreachable',
                  `jump host ${Private.who(endpoint)} could not reach ${next.host} port ${next.port}: ${err.message}`,
                  err
                )
              );
            } else {
              resolve(stream);
            }
          }
        );
      });
    }
    throw new Error('unreachable: empty route');
  } catch (err) {
    closeAll();
    throw err;
  }
}

/** One endpoint: TCP (or the given socket), host key check, auth. */
export function connectEndpoint(
  endpoint: ISshEndpoint,
  sock: Duplex | undefined,
  via: ISshEndpoint | undefined,
  options: IConnectOptions
): Promise<Client> {
  const who = Private.who(endpoint);
  const through = via ? ` (through jump host ${via.host})` : '';
  const log = options.log ?? (() => undefined);
  const timeoutMs = endpoint.connectTimeoutMs ?? options.timeoutMs;
  return new Promise<Client>((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let hostKeyError: TransportError | undefined;
    let promptError: unknown;
    const tried: string[] = [];
    let serverMethods: string[] = [];

    // Watchdog: paused while the user is asked something.
    let timer: NodeJS.Timeout | undefined;
    let phase = 'connecting';
    const arm = (what: string): void => {
      phase = what;
      clearTimeout(timer);
      timer = setTimeout(() => {
        fail(
          new TransportError(
            'unreachable',
            `cannot connect to ${who}${through}: no answer within ${timeoutMs / 1000} s while ${phase}`
          )
        );
      }, timeoutMs);
    };
    const pause = (): void => clearTimeout(timer);

    const fail = (err: TransportError): void => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.end();
      socket?.destroy();
      reject(err);
    };

    const ask = async (prompt: string, password: boolean): Promise<string> => {
      if (!options.prompter) {
        throw new TransportError('auth', 'no way to ask the user');
      }
      pause();
      try {
        return await options.prompter.ask(prompt, password);
      } finally {
        if (!settled) {
          arm(phase);
        }
      }
    };

    // --- host key ---------------------------------------------------------------
    const keyName = hostKeyName(
      endpoint.hostKeyAlias ?? endpoint.host,
      endpoint.port
    );
    const entries = readKnownHosts(endpoint.knownHostsFiles);
    const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
      void Private.verifyHostKey(endpoint, keyName, key, entries, ask).then(
        () => {
          arm('authenticating');
          verify(true);
        },
        (err: TransportError) => {
          hostKeyError = err;
          verify(false);
        }
      );
    };

    // --- authentication ---------------------------------------------------------
    const { identities, problems } = loadIdentities(
      endpoint.identityFiles,
      endpoint.identityFilesExplicit
    );
    const agent = endpoint.identitiesOnly
      ? undefined
      : (options.agent ?? process.env.SSH_AUTH_SOCK);
    // Each step names the wire method it uses, so methods the server refuses are skipped unasked.
    const queue: Array<{
      wire: AuthenticationType;
      run: () => Promise<AnyAuthMethod | undefined>;
    }> = [];
    const username = endpoint.user;
    if (agent) {
      queue.push({
        wire: 'publickey',
        run: async () => {
          tried.push('ssh-agent');
          return { type: 'agent', username, agent };
        }
      });
    }
    for (const id of identities.filter(i => !i.encrypted)) {
      queue.push({
        wire: 'publickey',
        run: async () => {
          tried.push(`key ${id.file}`);
          return { type: 'publickey', username, key: id.key! };
        }
      });
    }
    for (const id of identities.filter(i => i.encrypted)) {
      queue.push({
        wire: 'publickey',
        run: () => Private.unlock(id, username, options.keyCache, ask, tried)
      });
    }
    if (endpoint.kbdInteractive && options.prompter) {
      queue.push({
        wire: 'keyboard-interactive',
        run: async () => {
          tried.push('keyboard-interactive');
          return {
            type: 'keyboard-interactive',
            username,
            prompt: (name, instructions, _lang, prompts, finish) => {
              void (async () => {
                const answers: string[] = [];
                for (const p of prompts) {
                  const text = [name, instructions, p.prompt]
                    .filter(t => t && t.trim())
                    .join('\n');
                  answers.push(await ask(text, !p.echo));
                }
                return answers;
              })().then(finish, err => {
                promptError = err;
                finish([]);
              });
            }
          };
        }
      });
    }
    if (endpoint.password && options.prompter) {
      queue.push({
        wire: 'password',
        run: async () => {
          tried.push('password');
          const password = await ask(
            `${username}@${endpoint.host}'s password: `,
            true
          );
          return { type: 'password', username, password };
        }
      });
    }
    let first = true;
    const authHandler = (
      methodsLeft: AuthenticationType[] | null,
      _partial: boolean | null,
      next: (m: AnyAuthMethod | false) => void
    ): void => {
      if (methodsLeft) {
        serverMethods = methodsLeft;
      }
      if (first) {
        // `none` first: cheap, and the server answers with the methods it accepts.
        first = false;
        next({ type: 'none', username });
        return;
      }
      void (async () => {
        while (queue.length) {
          const step = queue.shift()!;
          if (serverMethods.length && !serverMethods.includes(step.wire)) {
            continue;
          }
          try {
            const m = await step.run();
            if (m) {
              return m;
            }
          } catch (err) {
            if (err instanceof TransportError && err.kind === 'aborted') {
              throw err;
            }
            promptError = err;
          }
        }
        return false as const;
      })().then(next, err => {
        promptError = err;
        next(false);
      });
    };
    // --- events ---------------------------------------------------------------
    client.on('ready', () => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners('error');
      client.on('error', err => log(`ssh ${who}: ${err.message}`));
      log(`ssh ${who}: connected`);
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyError) {
        fail(hostKeyError);
      } else if (err.level === 'client-authentication') {
        const refused = Private.noMethodsMessage(
          tried,
          problems,
          serverMethods,
          !!options.prompter
        );
        const why =
          promptError instanceof Error &&
          !(
            promptError instanceof TransportError && promptError.kind === 'auth'
          )
            ? ` (${promptError.message})`
            : '';
        fail(
          new TransportError(
            'auth',
            `permission denied for ${who}${through}: ${refused}${why}`,
            err
          )
        );
      } else {
        fail(
          new TransportError(
            'unreachable',
            `cannot connect to ${who}${through}: ${Private.netMessage(err)}`,
            err
          )
        );
      }
    });
    client.on('close', () => {
      fail(
        new TransportError(
          'unreachable',
          `cannot connect to ${who}${through}: connection closed during ${phase}`
        )
      );
    });

    // --- connect ---------------------------------------------------------------
    let socket: net.Socket | undefined;
    arm(via ? 'opening the tunnel' : 'connecting');
    if (!sock) {
      socket = net.connect({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      sock = socket;
      socket.once('connect', () => arm('exchanging keys'));
    } else {
      arm('exchanging keys');
    }
    const preferred = knownKeyTypes(entries, keyName);
    client.connect({
      sock,
      username,
      readyTimeout: 0,
      keepaliveInterval: endpoint.keepaliveMs ?? options.keepaliveMs,
      keepaliveCountMax: 3,
      hostVerifier,
      authHandler: authHandler as never,
      algorithms: {
        serverHostKey: Private.hostKeyAlgorithms(preferred) as never
      }
    });
  });
}

namespace Private {
  export function who(e: ISshEndpoint): string {
    return `${e.user}@${e.host} port ${e.port}`;
  }

  const ALL_HOST_KEY = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa'
  ];

  /** Prefer the key types known_hosts already has for this host (as OpenSSH does). */
  export function hostKeyAlgorithms(known: string[]): string[] {
    const first: string[] = [];
    for (const t of known) {
      const algos =
        t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
      for (const a of algos) {
        if (ALL_HOST_KEY.includes(a) && !first.includes(a)) {
          first.push(a);
        }
      }
    }
    return [...first, ...ALL_HOST_KEY.filter(a => !first.includes(a))];
  }

  export async function verifyHostKey(
    endpoint: ISshEndpoint,
    keyName: string,
    key: Buffer,
    entries: ReturnType<typeof readKnownHosts>,
    ask: (prompt: string, password: boolean) => Promise<string>
  ): Promise<void> {
    const verdict = checkHostKey(entries, keyName, key);
    const type = keyTypeLabel(keyTypeOf(key));
    const fp = fingerprint(key);
    if (verdict.status === 'trusted') {
      return;
    }
    if (verdict.status === 'revoked') {
      throw new TransportError(
        'hostkey',
        `refusing to connect to ${keyName}: its ${type} host key ${fp} is marked as REVOKED in ${verdict.entry.file}:${verdict.entry.line}.`
      );
    }
    if (verdict.status === 'changed') {
      const where = verdict.entries.map(e => `${e.file}:${e.line}`).join(', ');
      throw new TransportError(
        'hostkey',
        [
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
          'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
          'It is also possible that a host key has just been changed.',
          `The ${type} key sent by the remote host ${keyName} is`,
          `${fp}.`,
          `The key recorded for it is in ${where}.`,
          'Connection refused. If the change is expected, remove the old key (e.g.',
          `ssh-keygen -R '${keyName}'${verdict.entries[0] ? ` -f ${verdict.entries[0].file}` : ''}) and connect again.`
        ].join('\n')
      );
    }
    const strict = endpoint.strictHostKeyChecking;
    const recordIn = endpoint.knownHostsFiles[0];
    if (strict === 'yes') {
      throw new TransportError(
        'hostkey',
        `refusing to connect to ${keyName}: its ${type} host key ${fp} is not in ${endpoint.knownHostsFiles.join(' or ')} and StrictHostKeyChecking is yes.`
      );
    }
    // 'no' and 'accept-new' are not honoured: a cell never accepts a key silently.
    const note = verdict.otherTypes.length
      ? `\nbut keys of different type are already known for this host (${verdict.otherTypes.join(', ')}).`
      : '';
    const prompt =
      `The authenticity of host '${keyName}' can't be established.\n` +
      `${type} key fingerprint is ${fp}.${note}\n` +
      `Are you sure you want to continue connecting (yes/no)? `;
    let answer: string;
    try {
      answer = await ask(prompt, false);
    } catch (err) {
      throw new TransportError(
        'hostkey',
        `refusing to connect to ${keyName}: its ${type} host key ${fp} is unknown (not in ${endpoint.knownHostsFiles.join(' or ')}) and the user could not be asked to confirm it. Add the key to known_hosts (e.g. connect once with ssh) and try again.`,
        err
      );
    }
    if (answer.trim().toLowerCase() !== 'yes') {
      throw new TransportError(
        'hostkey',
        `host key verification failed: the ${type} key ${fp} of ${keyName} was not accepted.`
      );
    }
    try {
      appendKnownHost(recordIn, keyName, key, endpoint.hashKnownHosts);
    } catch (err) {
      throw new TransportError(
        'hostkey',
        `accepted the host key of ${keyName} but cannot record it in ${recordIn}: ${(err as Error).message}`,
        err
      );
    }
  }

  /** An encrypted identity: ask for its passphrase (3 tries) unless already unlocked. */
  export async function unlock(
    id: IIdentity,
    username: string,
    cache: Map<string, ParsedKey>,
    ask: (prompt: string, password: boolean) => Promise<string>,
    tried: string[]
  ): Promise<AnyAuthMethod | undefined> {
    const cached = cache.get(id.file);
    if (cached) {
      tried.push(`key ${id.file}`);
      return { type: 'publickey', username, key: cached };
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      let passphrase: string;
      try {
        passphrase = await ask(`Enter passphrase for key '${id.file}': `, true);
      } catch {
        tried.push(`key ${id.file} (encrypted; no passphrase given)`);
        return undefined;
      }
      const key = parseIdentity(id.data, passphrase);
      if (key !== 'encrypted' && !(key instanceof Error)) {
        cache.set(id.file, key);
        tried.push(`key ${id.file}`);
        return { type: 'publickey', username, key };
      }
    }
    tried.push(`key ${id.file} (wrong passphrase)`);
    return undefined;
  }

  export function noMethodsMessage(
    tried: string[],
    problems: string[],
    serverMethods: string[],
    canAsk: boolean
  ): string {
    const parts = [
      tried.length
        ? `tried ${tried.join(', ')}`
        : 'no authentication method could be tried (no ssh-agent, no identity file found)'
    ];
    if (serverMethods.length) {
      parts.push(`the server accepts: ${serverMethods.join(', ')}`);
    }
    if (
      !canAsk &&
      serverMethods.some(m => m === 'keyboard-interactive' || m === 'password')
    ) {
      parts.push(
        'passwords and one-time codes need a frontend that can ask (input_request)'
      );
    }
    parts.push(...problems);
    return parts.join('; ');
  }

  export function netMessage(
    err: Error & { code?: string; level?: string }
  ): string {
    switch (err.code) {
      case 'ECONNREFUSED':
        return 'connection refused (is sshd running there, and is the port right?)';
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `the host name cannot be resolved (${err.code})`;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `no route to the host (${err.code})`;
      case 'ETIMEDOUT':
        return 'the TCP connection timed out';
      case 'ECONNRESET':
        return 'the connection was reset during the handshake';
    }
    return err.message;
  }
}
