/**
 * Test helpers for the kernel core: a client that builds requests and
 * records what the core sends, per channel, with no sockets. Used by the
 * unit tests (kept out of the spec files so several can share it). Test
 * helpers live in tests/support/ so they are neither compiled into lib/ nor
 * shipped in the npm package.
 */
import type {
  Channel,
  IMessage,
  JSONObject
} from '../../src/bridge/kernel/wire';
import { makeMessage, newSession } from '../../src/bridge/kernel/wire';

export interface ISent {
  channel: Channel;
  message: IMessage;
}

export class FakeClient {
  readonly sent: ISent[] = [];
  readonly session = newSession('client');

  send = (channel: Channel, message: IMessage): void => {
    this.sent.push({ channel, message });
  };

  request(
    type: string,
    content: JSONObject = {},
    identity = 'client-1'
  ): IMessage {
    return makeMessage(type, content, this.session, undefined, {}, [
      Buffer.from(identity)
    ]);
  }

  /** Everything sent with `parent` as parent header. */
  children(parent: IMessage, channel?: Channel): IMessage[] {
    return this.sent
      .filter(s => s.message.parent_header.msg_id === parent.header.msg_id)
      .filter(s => !channel || s.channel === channel)
      .map(s => s.message);
  }

  /** iopub message types with `parent` as parent, in order (status as status:busy/idle). */
  iopubTypes(parent: IMessage): string[] {
    return this.children(parent, 'iopub').map(m =>
      m.header.msg_type === 'status'
        ? `status:${m.content.execution_state}`
        : m.header.msg_type
    );
  }

  reply(parent: IMessage): IMessage | undefined {
    return this.sent.find(
      s =>
        (s.channel === 'shell' || s.channel === 'control') &&
        s.message.parent_header.msg_id === parent.header.msg_id
    )?.message;
  }

  /** Waits until `predicate` holds (polling the event loop), or throws after `ms`. */
  async until(predicate: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > end) {
        throw new Error('timed out waiting for a condition');
      }
      await new Promise(resolve => setTimeout(resolve, 2));
    }
  }
}
