import { PROTOCOL_VERSION, type StepRequestInput } from '../../shared/protocol';

/** The bundled tiny core's name and version, as a step request names it. */
export const TINY_CORE = { name: 'tiny-core', version: '0.1.0' };

/** A worker step request: the first step of ten of a 25-position block of the tiny core, with `over` applied. */
export function stepRequest(over: Partial<StepRequestInput> = {}): StepRequestInput {
  return {
    v: PROTOCOL_VERSION,
    model: TINY_CORE,
    seed: 1,
    block: 0,
    step: 0,
    steps: 10,
    blockLength: 25,
    estimate: null,
    selfCond: null,
    context: [1, 2, 3],
    ...over,
  };
}
