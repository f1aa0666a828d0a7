/**
 * A view of a transport whose every exec is a priority command (the channel
 * slot that long-running commands leave free, limiter.ts): for the short
 * scheduler queries and cancels, which must not wait behind running cells.
 * A Proxy, not a wrapper class: everything else is the transport itself.
 */
import type { IExecOptions, IExecResult, ITransport } from './types';

export function withPriority(transport: ITransport): ITransport {
  const exec = (
    command: string,
    options: IExecOptions = {}
  ): Promise<IExecResult> =>
    transport.exec(command, { ...options, priority: true });
  return new Proxy(transport, {
    get(target, prop) {
      if (prop === 'exec') {
        return exec;
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    }
  });
}
