/**
 * Views of a distributed cell's other ranks (RANKS_MIME): the one-line
 * summary, rank labels and states, and the "all ranks" view whose every line
 * is tagged `[rank N]`. Pure functions, so they are unit-tested.
 */
import type { IRankInfo, IRanksPayload, ISubOutput } from '../../shared/mime';
import { droppedText, isSubOutput, type ISubOutputItem } from './subOutputs';

export type RankState = IRankInfo['state'];

/** How a rank's state reads in labels and titles. */
export const RANK_STATE_WORDS: { [state in RankState]: string } = {
  running: 'running',
  done: 'done',
  error: 'failed',
  cancelled: 'cancelled'
};

/** A mark per state, beside each rank's label. */
export const RANK_STATE_MARKS: { [state in RankState]: string } = {
  running: '▶',
  done: '✓',
  error: '✗',
  cancelled: '■'
};

/**
 * The payload, checked and cleaned (it comes from the remote), or null when
 * it is not a ranks payload at all.
 */
export function readRanksPayload(value: unknown): IRanksPayload | null {
  const p = value as IRanksPayload | null;
  if (!p || typeof p !== 'object' || !Array.isArray(p.ranks)) {
    return null;
  }
  const ranks = p.ranks
    .filter(r => r && typeof r === 'object' && Number.isInteger(r.rank))
    .map(r => ({
      ...r,
      node: String(r.node ?? '?'),
      state: (r.state in RANK_STATE_WORDS ? r.state : 'running') as RankState,
      outputs: Array.isArray(r.outputs) ? r.outputs.filter(isSubOutput) : []
    }));
  return {
    ...p,
    nodes: Array.isArray(p.nodes) ? p.nodes.map(String) : [],
    launch: typeof p.launch === 'string' ? p.launch : undefined,
    ranks
  };
}

/** The "All ranks" heading: "3 of 4 ranks, started by srun (rank 0's output is the cell's own)". */
export function allRanksHeading(p: IRanksPayload): string {
  const launch = p.launch ? `, started by ${p.launch}` : '';
  return `${p.ranks.length} of ${p.worldSize} ranks${launch} (rank 0's output is the cell's own)`;
}

/** "rank 1 (node-a)". */
export function rankLabel(rank: IRankInfo): string {
  return `rank ${rank.rank} (${rank.node})`;
}

/** The ranks that failed, the first failure first. */
export function failedRanks(p: IRanksPayload): number[] {
  const failed = p.ranks.filter(r => r.state === 'error').map(r => r.rank);
  const first = p.failedRank;
  if (typeof first === 'number') {
    return [first, ...failed.filter(r => r !== first)];
  }
  return failed;
}

/** "Other ranks: 3 · rank 2 failed", "Other ranks: 7 on 2 nodes · 7 running". */
export function ranksSummary(p: IRanksPayload): string {
  const nodes = p.nodes.length > 1 ? ` on ${p.nodes.length} nodes` : '';
  const parts = [`Other ranks: ${p.ranks.length}${nodes}`];
  const failed = failedRanks(p);
  if (failed.length === 1) {
    parts.push(`rank ${failed[0]} failed`);
  } else if (failed.length > 1) {
    parts.push(`ranks ${failed.join(', ')} failed`);
  }
  const count = (state: RankState) =>
    p.ranks.filter(r => r.state === state).length;
  const running = count('running');
  const cancelled = count('cancelled');
  if (running) {
    parts.push(`${running} running`);
  }
  if (cancelled) {
    parts.push(`${cancelled} cancelled`);
  }
  if (!failed.length && !running && !cancelled && p.ranks.length) {
    parts.push('all done');
  }
  return parts.join(' · ');
}

/** "… 120 earlier outputs were dropped" for a rank whose payload was cut. */
export function droppedNote(rank: IRankInfo): string {
  return droppedText(rank.dropped);
}

/**
 * Every rank's outputs in rank order, each line tagged `[rank N]`: streams
 * and tracebacks line by line (a line split across two writes is tagged
 * once), displays with a tag label. Adjacent streams of the same name merge.
 */
export function taggedOutputs(ranks: IRankInfo[]): ISubOutputItem[] {
  const items: ISubOutputItem[] = [];
  for (const rank of ranks) {
    const tag = `[rank ${rank.rank}] `;
    let atLineStart = true;
    const dropped = droppedNote(rank);
    if (dropped) {
      Private.pushStream(items, 'stderr', `${tag}${dropped}\n`);
    }
    for (const output of rank.outputs) {
      if (output.type === 'stream') {
        const tagged = Private.tagLines(output.text, tag, atLineStart);
        atLineStart = tagged.atLineStart;
        Private.pushStream(items, output.name, tagged.text);
        continue;
      }
      if (!atLineStart) {
        Private.endLine(items);
        atLineStart = true;
      }
      if (output.type === 'error') {
        items.push({
          output: {
            ...output,
            traceback: output.traceback.map(
              entry => Private.tagLines(String(entry), tag, true).text
            )
          }
        });
      } else {
        items.push({ output, tag: tag.trim() });
      }
    }
    if (!atLineStart) {
      Private.endLine(items);
    }
  }
  return items;
}

namespace Private {
  /** Tags each line of `text` that starts in it; `atLineStart`: whether it starts one. */
  export function tagLines(
    text: string,
    tag: string,
    atLineStart: boolean
  ): { text: string; atLineStart: boolean } {
    const pieces = text.split('\n');
    const last = pieces.length - 1;
    const tagged = pieces.map((piece, i) => {
      const startsLine = i > 0 || atLineStart;
      // The empty piece after a final newline is no line yet.
      return startsLine && !(i === last && piece === '') ? tag + piece : piece;
    });
    return {
      text: tagged.join('\n'),
      atLineStart: pieces[last] === '' && (last > 0 || atLineStart)
    };
  }

  export function pushStream(
    items: ISubOutputItem[],
    name: 'stdout' | 'stderr',
    text: string
  ): void {
    if (!text) {
      return;
    }
    const prev = items[items.length - 1]?.output;
    if (prev && prev.type === 'stream' && prev.name === name) {
      prev.text += text;
      return;
    }
    const output: ISubOutput = { type: 'stream', name, text };
    items.push({ output });
  }

  /** Ends a rank's unfinished last line, so the next rank's lines start on their own. */
  export function endLine(items: ISubOutputItem[]): void {
    for (let i = items.length - 1; i >= 0; i--) {
      const output = items[i].output;
      if (output.type === 'stream') {
        output.text += '\n';
        return;
      }
    }
  }
}
