/**
 * The authentication steps tried on one SSH endpoint, in OpenSSH's order:
 * ssh-agent, plain identity files, encrypted ones (passphrase asked),
 * keyboard-interactive, password; and the message when all were refused.
 */
import type { AnyAuthMethod, AuthenticationType, ParsedKey } from 'ssh2';
import { parseIdentity, type IIdentity } from './identityFiles';
import type { ISshEndpoint } from './sshRoute';

/** One step; `wire` names the method it uses, so methods the server refuses are skipped unasked. */
export interface IAuthStep {
  wire: AuthenticationType;
  run: () => Promise<AnyAuthMethod | undefined>;
}

export interface IAuthContext {
  /** ssh-agent socket; undefined: no agent. */
  agent?: string;
  /** Decrypted keys by file, kept in memory so a reconnect does not ask again. */
  keyCache: Map<string, ParsedKey>;
  /** Whether the user can be asked (keyboard-interactive and password need it). */
  canAsk: boolean;
  ask: (prompt: string, password: boolean) => Promise<string>;
  /** What was tried, for the refusal message (appended to). */
  tried: string[];
  /** A keyboard-interactive prompt that could not be answered. */
  promptFailed: (err: unknown) => void;
}

export function authSteps(
  endpoint: ISshEndpoint,
  identities: IIdentity[],
  context: IAuthContext
): IAuthStep[] {
  const { agent, ask, tried } = context;
  const queue: IAuthStep[] = [];
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
      run: () => Private.unlock(id, username, context.keyCache, ask, tried)
    });
  }
  if (endpoint.kbdInteractive && context.canAsk) {
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
              context.promptFailed(err);
              finish([]);
            });
          }
        };
      }
    });
  }
  if (endpoint.password && context.canAsk) {
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
  return queue;
}

/** Why authentication failed: what was tried, what the server accepts, unusable identity files. */
export function authRefusal(
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

namespace Private {
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
}
