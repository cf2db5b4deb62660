import type { ClientModelInfo } from '../../shared/client-protocol';
import type { DenoiserInfo } from '../../shared/ssd2';

/**
 * The hello's model description. The private context is prepended on this machine, so the edge
 * must budget for it without seeing it: the advertised context limit is the model's minus the
 * prefix's length (the engine then stops at `context` exactly where a local run would).
 */
export function clientModelInfo(info: DenoiserInfo, privatePrefixTokens: number): ClientModelInfo {
  const maxContext = info.maxContext - privatePrefixTokens;
  if (maxContext < 1)
    throw new RangeError(
      `the private context (${privatePrefixTokens} tokens) leaves no room in ${info.name}'s context of ${info.maxContext} tokens`,
    );
  return {
    name: info.name.slice(0, 256),
    role: 'user',
    vocabSize: info.vocabSize,
    blockSize: info.blockSize,
    maxContext,
    simplexK: info.simplexK,
    schedule: info.schedule,
    tTrain: info.tTrain,
    timestepRange: [info.timestepRange[0], info.timestepRange[1]],
    selfConditioning: info.selfConditioning,
    eosTokenId: info.eosTokenId,
    tokenizerSha256: info.tokenizerSha256,
    readout: info.readout,
    blockSchedule: info.blockSchedule,
  };
}
