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
import { loadIdentities } from './identityFiles';
import { hostKeyName, knownKeyTypes, readKnownHosts } from './knownHosts';
import { authRefusal, authSteps } from './sshAuth';
import { hostKeyAlgorithms, verifyHostKey } from './sshHostKey';
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
      void verifyHostKey(endpoint, keyName, key, entries, ask).then(
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
    const username = endpoint.user;
    const queue = authSteps(endpoint, identities, {
      agent: endpoint.identitiesOnly
        ? undefined
        : (options.agent ?? process.env.SSH_AUTH_SOCK),
      keyCache: options.keyCache,
      canAsk: !!options.prompter,
      ask,
      tried,
      promptFailed: err => {
        promptError = err;
      }
    });
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
        const refused = authRefusal(
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
        serverHostKey: hostKeyAlgorithms(preferred) as never
      }
    });
  });
}

namespace Private {
  export function who(e: ISshEndpoint): string {
    return `${e.user}@${e.host} port ${e.port}`;
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
