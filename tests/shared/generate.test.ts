import { describe, expect, it } from 'vitest';
import {
  generateAll,
  generate,
  IncompatibleModelsError,
  InvalidArgumentError,
  TimestepRouter,
  type GenerationEvent,
} from '../../shared/ssd2';
import { InvalidArgumentError as InvalidArg, IncompatibleModelsError as Incompatible } from '../../shared/errors';
import { ScriptedDenoiser } from '../helpers/scripted-denoiser';

const constant = (token: number) => () => token;

describe('block loop', () => {
  it('stops at the length budget, one block at a time, appending blocks to the context', async () => {
    const core = new ScriptedDenoiser({}, constant(3));
    const r = await generateAll({ core }, { prompt: [1, 2], steps: 4, maxTokens: 10, earlyStopPatience: 0 });
    expect(r.tokens).toEqual(Array(10).fill(3));
    expect(r.finishReason).toBe('length');
    expect(r.blocks).toBe(3);
    expect(r.stepsRun).toBe(12);
    expect(core.calls.map((c) => c.context.length)).toEqual([2, 2, 2, 2, 6, 6, 6, 6, 10, 10, 10, 10]);
  });

  it('starts an empty prompt after an end of text when a model reads out shifted, and only then', async () => {
    const shifted = new ScriptedDenoiser({ readout: 'shifted' }, constant(3));
    const r = await generateAll({ core: shifted }, { prompt: [], steps: 2, maxTokens: 4, earlyStopPatience: 0 });
    expect(shifted.calls[0].context).toEqual([7]);
    expect(r.tokens).toEqual([3, 3, 3, 3]);
    const aligned = new ScriptedDenoiser({}, constant(3));
    await generateAll({ core: aligned }, { prompt: [], steps: 2, maxTokens: 4, earlyStopPatience: 0 });
    expect(aligned.calls[0].context).toEqual([]);
    const userShifted = new ScriptedDenoiser({ role: 'user', readout: 'shifted' }, constant(3));
    const core = new ScriptedDenoiser({}, constant(3));
    await generateAll({ core, user: userShifted }, { prompt: [], userContext: [1], steps: 2, maxTokens: 4, earlyStopPatience: 0 });
    expect(core.calls[0].context).toEqual([7]);
    expect(userShifted.calls[0].context).toEqual([1, 7]);
  });

  it('truncates at the first EOS and stops', async () => {
    const core = new ScriptedDenoiser({}, (req, p) => (req.context.length >= 5 && p === 1 ? 7 : 2));
    const r = await generateAll({ core }, { prompt: [1], steps: 3, maxTokens: 100 });
    expect(r.tokens).toEqual([2, 2, 2, 2, 2]);
    expect(r.finishReason).toBe('eos');
  });

  it('an EOS after the positions max_tokens leaves room for does not end the text: finish reason length', async () => {
    const core = new ScriptedDenoiser({}, (_req, p) => (p === 3 ? 7 : 2));
    const r = await generateAll({ core }, { prompt: [1], steps: 3, maxTokens: 3, earlyStopPatience: 0 });
    expect(r.tokens).toEqual([2, 2, 2]);
    expect(r.finishReason).toBe('length');
    const eos = await generateAll({ core }, { prompt: [1], steps: 3, maxTokens: 4, earlyStopPatience: 0 });
    expect(eos.tokens).toEqual([2, 2, 2]);
    expect(eos.finishReason).toBe('eos');
  });

  it('staggered blocks end once the positions they keep are clean, except with multi-hot estimates', async () => {
    const schedule = { kind: 'staggered', window: 2 } as const;
    const core = new ScriptedDenoiser({ blockSchedule: schedule }, constant(3));
    const base = { prompt: [1], maxTokens: 2, earlyStopPatience: 0 };
    // Blocks of 4 at 8 steps: position 1 is clean from step 4, so the block ends after 5 steps.
    expect((await generateAll({ core }, { ...base, projection: 'sample' })).stepsRun).toBe(5);
    expect((await generateAll({ core }, { ...base, projection: 'multihot' })).stepsRun).toBe(8);
  });

  it('under a staggered schedule with early stopping on, a confident leading position ends its window at once', async () => {
    const schedule = { kind: 'staggered', window: 2 } as const;
    // Blocks of 4 at the default 8 steps (position j's window is steps 2j, 2j + 1); position 1's top
    // token has probability e / (e + 7) = 0.28, the others 0.9997.
    const core = new ScriptedDenoiser({ blockSchedule: schedule }, constant(3), (_req, p) => (p === 1 ? 1 : 10));
    const stepsOf = async (opts: { earlyStopPatience?: number; commitConfidence?: number }) => {
      const events: GenerationEvent[] = [];
      for await (const e of generate({ core }, { prompt: [1], maxTokens: 4, stepEvents: true, ...opts })) events.push(e);
      const done = events.at(-1)!;
      return { steps: events.flatMap((e) => (e.type === 'step' ? [e.step] : [])), result: done.type === 'done' ? done.result : null };
    };
    // Position 0 commits at step 0 (the loop jumps to step 2, where position 1's window starts);
    // position 1 runs its window; positions 2 and 3 commit at their first step, and the last ends the block.
    const on = await stepsOf({});
    expect(on.steps).toEqual([0, 2, 3, 4, 6]);
    expect(on.result).toMatchObject({ tokens: [3, 3, 3, 3], stepsRun: 5, stepsSaved: 3 });
    expect((await stepsOf({ commitConfidence: 0.2 })).steps).toEqual([0, 2, 4, 6]);
    expect((await stepsOf({ earlyStopPatience: 0 })).steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The noise of a step follows its schedule step: a jump skips steps, it does not renumber them.
    expect(core.calls.slice(0, 5).map((c) => c.noise.step)).toEqual([0, 2, 3, 4, 6]);
  });

  it('with overlapping windows only the last kept position commits (a jump would cut the next window short)', async () => {
    // Window 2 at 5 steps per block of 4 (fewer than window × B): position j's window starts at step
    // j, and it is clean from step j + 2.
    const schedule = { kind: 'staggered', window: 2 } as const;
    const core = new ScriptedDenoiser({ blockSchedule: schedule }, constant(3));
    const stepsOf = async (earlyStopPatience: number) => {
      const steps: number[] = [];
      for await (const e of generate({ core }, { prompt: [1], steps: 5, maxTokens: 2, stepEvents: true, earlyStopPatience }))
        if (e.type === 'step') steps.push(e.step);
      return steps;
    };
    // Position 0 is sure at steps 0 and 1 but position 1's window has started: no jump. At step 2
    // position 1, the last kept, is sure: the block ends a step before position 1 would be clean.
    expect(await stepsOf(5)).toEqual([0, 1, 2]);
    expect(await stepsOf(0)).toEqual([0, 1, 2, 3]);
  });

  it('ends a block early once the argmax is stable and reports the steps saved', async () => {
    const core = new ScriptedDenoiser({}, constant(4));
    const events: GenerationEvent[] = [];
    for await (const e of generate({ core }, { prompt: [], steps: 20, maxTokens: 4, earlyStopPatience: 3, stepEvents: true }))
      events.push(e);
    const done = events.at(-1)!;
    expect(done.type === 'done' && done.result).toMatchObject({ stepsRun: 4, stepsSaved: 16 });
    expect(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.changed)).toEqual([4, 0, 0, 0]);
  });

  it('passes the previous estimate and each model its own self-conditioning logits', async () => {
    const core = new ScriptedDenoiser({}, constant(5));
    const user = new ScriptedDenoiser({ role: 'user', name: 'user' }, constant(6));
    await generateAll(
      { core, user },
      { prompt: [1], userContext: [0, 0], steps: 3, maxTokens: 4, lambda: 0.5, earlyStopPatience: 0, projection: 'greedy' },
    );
    expect(core.calls[0].selfCond).toBeNull();
    expect(core.calls[0].noise.estimate).toBeNull();
    expect(core.calls[1].selfCond!.data[5]).toBe(10); // core's own previous logits
    expect(user.calls[1].selfCond!.data[6]).toBe(10);
    expect(user.calls[0].context).toEqual([0, 0, 1]); // the private context reaches only the user model
    expect(core.calls[0].context).toEqual([1]);
    // Greedy projection of the 50/50 mixture: both tokens tie; the estimate is shared by both models.
    expect(core.calls[1].noise.estimate).toEqual(user.calls[1].noise.estimate);
  });

  it('takes the sampled estimate from logits / temperature: a weak preference spreads at 1, holds at 0.1, and 0 is the argmax', async () => {
    // Token 5 leads by one logit over 7 others: probability 0.28 at temperature 1.
    const offTarget = async (temperature: number) => {
      const core = new ScriptedDenoiser({}, constant(5), () => 1);
      const request = { prompt: [1], steps: 12, maxTokens: 8, earlyStopPatience: 0, projection: 'sample' as const, temperature, seed: 3 };
      await generateAll({ core }, request);
      return core.calls.flatMap((c) => c.noise.estimate ?? []).filter((ids) => ids.length !== 1 || ids[0] !== 5).length;
    };
    expect(await offTarget(1)).toBeGreaterThan(10);
    expect(await offTarget(0.1)).toBe(0);
    expect(await offTarget(0)).toBe(0);
    expect(await offTarget(1e-40)).toBe(0); // logits / 1e-40 would overflow float32: greedy
  });

  it('decodes temperature 0 and top-p 0 greedily whatever the projection asked for, multi-hot included (staggered blocks end early as greedy ones do)', async () => {
    const core = new ScriptedDenoiser({ blockSchedule: { kind: 'staggered', window: 2 } }, constant(5));
    // Blocks of 4 at 8 steps keeping 2 positions: a one-hot block ends after 5 steps, a multi-hot one runs all 8.
    const run = (extra: Record<string, unknown>) =>
      generateAll({ core }, { prompt: [1], maxTokens: 2, earlyStopPatience: 0, seed: 3, ...extra });
    const greedy = await run({ projection: 'greedy' });
    expect(greedy.stepsRun).toBe(5);
    for (const projection of ['sample', 'multihot']) {
      expect(await run({ projection, temperature: 0 })).toEqual(greedy);
      expect(await run({ projection, topP: 0 })).toEqual(greedy);
    }
  });

  it('lets the user model override the core with λ=1 and not at all with λ=0', async () => {
    const run = (lambda: number) =>
      generateAll(
        { core: new ScriptedDenoiser({}, constant(5)), user: new ScriptedDenoiser({ role: 'user' }, constant(6)) },
        { prompt: [], steps: 2, maxTokens: 4, lambda },
      );
    expect((await run(1)).tokens).toEqual([6, 6, 6, 6]);
    expect((await run(0)).tokens).toEqual([5, 5, 5, 5]);
  });

  it('routes each step to the timestep-specialised checkpoint whose range holds t/T', async () => {
    const main = new ScriptedDenoiser({ name: 'main' }, constant(1));
    const high = new ScriptedDenoiser({ name: 'high', timestepRange: [0.8, 1] }, constant(2));
    const mid = new ScriptedDenoiser({ name: 'mid', timestepRange: [0.4, 0.6] }, constant(3));
    const seen: string[] = [];
    for await (const e of generate(
      { core: [main, high, mid] },
      { prompt: [], steps: 10, maxTokens: 4, earlyStopPatience: 0, stepEvents: true },
    )) {
      if (e.type === 'step') seen.push(`${e.fraction.toFixed(1)}:${e.model}`);
    }
    expect(seen).toEqual([
      '1.0:high',
      '0.9:high',
      '0.8:main',
      '0.7:main',
      '0.6:mid',
      '0.5:mid',
      '0.4:main',
      '0.3:main',
      '0.2:main',
      '0.1:main',
    ]);
  });

  it('refuses checkpoint sets that leave a timestep uncovered or do not share a vocabulary', () => {
    expect(() => new TimestepRouter([new ScriptedDenoiser({ timestepRange: [0.5, 1] }, constant(1))])).toThrow(IncompatibleModelsError);
    expect(
      () => new TimestepRouter([new ScriptedDenoiser({}, constant(1)), new ScriptedDenoiser({ vocabSize: 9, name: 'v9' }, constant(1))]),
    ).toThrow(/vocab_size 9 != 8/);
  });

  it('refuses a user model with a different tokenizer', async () => {
    const user = new ScriptedDenoiser({ role: 'user', name: 'other', tokenizerSha256: 'y'.repeat(64) }, constant(1));
    await expect(generateAll({ core: new ScriptedDenoiser({}, constant(1)), user }, { prompt: [] })).rejects.toThrow(Incompatible);
    await expect(generateAll({ core: new ScriptedDenoiser({}, constant(1)), user }, { prompt: [] })).rejects.toThrow(
      /user model other does not match scripted: tokenizer.json sha256/,
    );
  });

  it('stops with reason "context" when the context is full', async () => {
    const r = await generateAll(
      { core: new ScriptedDenoiser({ maxContext: 10 }, constant(2)) },
      { prompt: [1, 1, 1], steps: 1, maxTokens: 100 },
    );
    expect(r.finishReason).toBe('context');
    expect(r.tokens.length).toBe(8);
  });
});

describe('bad input names the field', () => {
  const core = new ScriptedDenoiser({ maxContext: 10 }, constant(2));
  const cases: [string, object, RegExp][] = [
    ['negative top-p', { topP: -0.1 }, /^topP: /],
    ['top-p above one', { topP: 1.5 }, /^topP: /],
    ['negative steps', { steps: -3 }, /^steps: /],
    ['fractional steps', { steps: 2.5 }, /^steps: /],
    ['λ above one', { lambda: 1.2 }, /^lambda: /],
    ['per-step λ of the wrong length', { steps: 3, lambda: [0.1, 0.2] }, /^lambda: a per-step schedule needs 3/],
    ['block size above the model', { blockSize: 9 }, /^blockSize: 9 exceeds/],
    ['prompt longer than the context', { prompt: Array(11).fill(1) }, /^prompt: 11 tokens exceed the core model's context of 10/],
    ['token outside the vocabulary', { prompt: [8] }, /^prompt: token id 8 is outside/],
    ['unknown projection', { projection: 'beam' }, /^projection: /],
  ];
  for (const [name, extra, message] of cases) {
    it(name, async () => {
      const err = await generateAll({ core }, { prompt: [1], ...extra } as never).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArg);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(message);
    });
  }
});

describe('self-conditioning switch', () => {
  it('passes no previous logits when selfConditioning is false', async () => {
    const core = new ScriptedDenoiser({}, constant(3));
    await generateAll({ core }, { prompt: [], steps: 3, maxTokens: 4, earlyStopPatience: 0, selfConditioning: false });
    expect(core.calls.map((c) => c.selfCond)).toEqual([null, null, null]);
  });
});

describe('min tokens', () => {
  it('suppresses EOS until minTokens tokens were generated', async () => {
    // The scripted core prefers EOS (7) everywhere; with logits 10 vs 0 the runner-up is token 0.
    const eosFirst = () => new ScriptedDenoiser({}, () => 7);
    expect((await generateAll({ core: eosFirst() }, { prompt: [1], steps: 2, maxTokens: 20 })).tokens).toEqual([]);
    const r = await generateAll({ core: eosFirst() }, { prompt: [1], steps: 2, maxTokens: 20, minTokens: 3 });
    expect(r.tokens).toEqual([0, 0, 0]);
    expect(r.finishReason).toBe('eos');
  });
});
