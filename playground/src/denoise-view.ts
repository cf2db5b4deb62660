/**
 * One run's denoising view: every block is a row of positions; each shows the current argmax
 * token (from the edge's per-step progress events), coloured by how many steps ago it last
 * changed (hot = just changed, cool = settled). Finished blocks show their final tokens and the
 * steps early stopping saved. A slider replays every recorded step.
 */

import type { StepEvent } from '../../shared/protocol/events';

/** A per-step progress event as the edge streams it (`ssd2.progress`). */
export type ProgressEvent = Omit<StepEvent, 'type'>;

interface Frame {
  block: number;
  step: number;
  steps: number;
  changed: number;
  argmax: number[];
  /** Per position: the step at which it last changed. */
  since: number[];
}

interface BlockState {
  row: HTMLElement;
  cells: HTMLElement[];
  meta: HTMLElement;
  finalTokens?: number[];
  stepsRun?: number;
  stepsSaved?: number;
  lastFrame?: Frame;
}

/** Steps since the last change → colour: red/orange for fresh changes, cooling to green when settled. */
export function recencyColour(age: number): string {
  const t = Math.min(age, 12) / 12;
  const hue = 10 + t * 130;
  const light = 72 + t * 13;
  return `hsl(${hue.toFixed(0)} 80% ${light.toFixed(0)}%)`;
}

export class DenoiseView {
  private readonly blocksEl: HTMLElement;
  private readonly statusEl: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly blocks = new Map<number, BlockState>();
  private readonly frames: Frame[] = [];
  private followLive = true;
  private totals = { stepsRun: 0, stepsSaved: 0 };

  constructor(
    private readonly root: HTMLElement,
    private readonly tokenText: (id: number) => string,
    private readonly eosTokenId: number | null = null,
  ) {
    root.replaceChildren();
    this.statusEl = el('div', 'denoise-status', 'waiting…');
    this.blocksEl = el('div', 'denoise-blocks');
    this.slider = document.createElement('input');
    this.slider.type = 'range';
    this.slider.min = '0';
    this.slider.max = '0';
    this.slider.value = '0';
    this.slider.disabled = true;
    this.slider.className = 'denoise-replay';
    this.slider.title = 'replay the denoising step by step';
    this.slider.addEventListener('input', () => {
      const i = Number(this.slider.value);
      this.followLive = i === this.frames.length - 1;
      this.show(i);
    });
    const replay = el('label', 'denoise-replay-label', 'replay ');
    replay.append(this.slider);
    root.append(this.statusEl, this.blocksEl, replay);
  }

  /** A per-step progress event (current argmax of the block being denoised). */
  progress(e: ProgressEvent): void {
    const prev = this.frames.at(-1);
    const samePrev = prev && prev.block === e.block ? prev : undefined;
    const since = e.argmax.map((t, p) => (samePrev && samePrev.argmax[p] === t ? samePrev.since[p] : e.step));
    this.frames.push({ block: e.block, step: e.step, steps: e.steps, changed: e.changed, argmax: [...e.argmax], since });
    this.slider.max = String(this.frames.length - 1);
    this.slider.disabled = false;
    if (this.followLive) {
      this.slider.value = this.slider.max;
      this.show(this.frames.length - 1);
    }
  }

  /** A finished block (final tokens; steps run and saved by early stopping). */
  blockDone(block: number, tokens: number[] | null, stepsRun: number, stepsSaved: number): void {
    const b = this.block(block);
    b.finalTokens = tokens ?? b.lastFrame?.argmax;
    b.stepsRun = stepsRun;
    b.stepsSaved = stepsSaved;
    this.totals.stepsRun += stepsRun;
    this.totals.stepsSaved += stepsSaved;
    if (this.followLive) this.renderBlock(b, b.lastFrame, true);
    this.statusEl.textContent = `block ${block + 1} done: ${stepsRun} steps run, ${stepsSaved} saved by early stopping`;
  }

  /** The whole generation ended. */
  done(stepsRun: number, stepsSaved: number, blocks: number): void {
    const total = stepsRun + stepsSaved;
    this.statusEl.textContent =
      `${blocks} block${blocks === 1 ? '' : 's'}, ${stepsRun} steps run, ${stepsSaved} saved by early ` +
      `stopping${total ? ` (${Math.round((100 * stepsSaved) / total)} %)` : ''}`;
    this.root.dataset.state = 'done';
  }

  private block(index: number): BlockState {
    let b = this.blocks.get(index);
    if (!b) {
      const row = el('div', 'denoise-block');
      const label = el('div', 'denoise-block-label', `block ${index + 1}`);
      const meta = el('div', 'denoise-block-meta', '');
      const cellsEl = el('div', 'denoise-cells');
      row.append(label, cellsEl, meta);
      this.blocksEl.append(row);
      b = { row, cells: [], meta };
      (b as BlockState & { cellsEl: HTMLElement }).cellsEl = cellsEl;
      this.blocks.set(index, b);
    }
    return b;
  }

  private show(i: number): void {
    const f = this.frames[i];
    if (!f) return;
    // Blocks after the frame's are not there yet; blocks before it are final.
    for (const [index, b] of this.blocks) b.row.hidden = index > f.block;
    const b = this.block(f.block);
    if (this.followLive) b.lastFrame = f;
    this.renderBlock(b, f, i !== this.frames.length - 1 || !this.followLive ? false : b.finalTokens !== undefined);
    for (const [index, other] of this.blocks) if (index < f.block) this.renderBlock(other, other.lastFrame, true);
    this.statusEl.textContent =
      `block ${f.block + 1} · step ${f.step + 1}/${f.steps} · ${f.changed} ` + `position${f.changed === 1 ? '' : 's'} changed`;
  }

  private renderBlock(b: BlockState, f: Frame | undefined, final: boolean): void {
    const tokens = final && b.finalTokens ? b.finalTokens : (f?.argmax ?? []);
    const cellsEl = (b as BlockState & { cellsEl: HTMLElement }).cellsEl;
    while (b.cells.length < tokens.length) {
      const c = el('span', 'tok');
      b.cells.push(c);
      cellsEl.append(c);
    }
    const eos = this.eosTokenId === null ? -1 : tokens.indexOf(this.eosTokenId);
    b.cells.forEach((c, p) => {
      c.hidden = p >= tokens.length;
      // Positions after the first EOS are denoised too, but they are not part of the text.
      c.classList.toggle('after-eos', eos >= 0 && p > eos);
      if (p >= tokens.length) return;
      const text = this.tokenText(tokens[p]);
      c.textContent = text.replace(/\n/g, '⏎').replace(/ /g, '·') || '∅';
      const age = f ? f.step - f.since[p] : 99;
      c.style.background = final ? '' : recencyColour(age);
      c.classList.toggle('final', final);
      c.title = final ? `token ${tokens[p]}` : `token ${tokens[p]} · unchanged for ${age} step${age === 1 ? '' : 's'}`;
    });
    b.row.classList.toggle('final', final);
    b.meta.textContent =
      final && b.stepsRun !== undefined ? `${b.stepsRun} steps · saved ${b.stepsSaved}` : f ? `step ${f.step + 1}/${f.steps}` : '';
  }
}

function el(tag: string, className: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
