import { DEFAULT_TOP_K, MAX_TOP_K } from '../../shared/protocol';

/**
 * `--top-k K`: how a generation reads each step's logits, as the API's GPU workers do
 * (`fusedModels`): a core alone from its k largest, a core with a user model from both models'
 * full logits; 0 reads every logit. `more` adds a line to the usage text.
 */
export function topKFlag(more = '') {
  return {
    type: 'int',
    arg: 'K',
    min: 0,
    max: MAX_TOP_K,
    default: DEFAULT_TOP_K,
    help:
      "logits per position a core alone is decoded from (its k largest), as the API's GPU workers do;\n" +
      `with a user model both models' full logits are mixed, as on the workers; 0 reads every logit${more}`,
  } as const;
}
