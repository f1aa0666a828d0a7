/**
 * Bounded lists of sub-outputs (ISubOutput): a rank's or an element's
 * outputs kept to a number of outputs and of stream characters, the oldest
 * dropped and counted, so a payload kept current in place stays small.
 * Pure logic; no I/O.
 */
import type { ISubOutput } from '../../shared/mime';

/** What holds a bounded list: IRankInfo, IArrayElement. */
export interface IBoundedOutputs {
  outputs: ISubOutput[];
  /** Outputs dropped at the front. */
  dropped?: number;
}

export interface IOutputBounds {
  /** Outputs kept. */
  outputs: number;
  /** Characters of stream text kept. */
  text: number;
}

/** Appends `output`, dropping the oldest past the bound. */
export function pushBounded(
  holder: IBoundedOutputs,
  output: ISubOutput,
  bounds: IOutputBounds
): void {
  holder.outputs.push(output);
  while (holder.outputs.length > bounds.outputs) {
    holder.outputs.shift();
    holder.dropped = (holder.dropped ?? 0) + 1;
  }
}

/** Stream text joins the previous chunk of the same stream; the front is cut past the text bound. */
export function addBoundedText(
  holder: IBoundedOutputs,
  name: 'stdout' | 'stderr',
  text: string,
  bounds: IOutputBounds
): void {
  const outputs = holder.outputs;
  const last = outputs[outputs.length - 1];
  if (last && last.type === 'stream' && last.name === name) {
    last.text += text;
  } else {
    pushBounded(holder, { type: 'stream', name, text }, bounds);
  }
  let total = 0;
  for (const o of outputs) {
    total += o.type === 'stream' ? o.text.length : 0;
  }
  while (total > bounds.text) {
    const first = outputs.find(o => o.type === 'stream');
    if (!first || first.type !== 'stream') {
      break;
    }
    const cut = Math.min(first.text.length, total - bounds.text);
    first.text = first.text.slice(cut);
    total -= cut;
    if (first.text === '') {
      outputs.splice(outputs.indexOf(first), 1);
      holder.dropped = (holder.dropped ?? 0) + 1;
    }
  }
}
