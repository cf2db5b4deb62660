import { describe, expect, it } from 'vitest';
import { chainsOf, selectedStages } from '../../infra/training/train-models';

const names = (chains: ReturnType<typeof chainsOf>) => Object.fromEntries([...chains].map(([k, v]) => [k, v.map((s) => s.name)]));

describe('train:models GPU plan sequences', () => {
  it('runs the default chains side by side, each in its own sequence', () => {
    expect(names(chainsOf(selectedStages()))).toEqual({
      'core-ar': ['core-ar', 'core-ar-sft', 'core', 'core-hi'],
      'user-ar': ['user-ar', 'user-ar-sft', 'user'],
    });
  });

  it('runs a chain after the selected chain whose run it starts from', () => {
    expect(names(chainsOf(selectedStages(['core-ar', 'core-ar-sft', 'shift', 'shift-sft', 'user-aligned'])))).toEqual({
      'core-ar': ['core-ar', 'core-ar-sft', 'shift', 'shift-sft'],
      'user-aligned': ['user-aligned'],
    });
  });

  it('runs a chain on its own when the run it starts from was trained before', () => {
    expect(names(chainsOf(selectedStages(['shift', 'shift-sft', 'shift-hi'])))).toEqual({ shift: ['shift', 'shift-sft', 'shift-hi'] });
  });

  it('names unknown stages', () => {
    expect(() => selectedStages(['nope'])).toThrow(/--only: unknown stage nope/);
  });
});
