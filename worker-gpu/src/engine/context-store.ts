import { contextHash } from '../../../shared/protocol';
import { InvalidArgumentError } from '../../../shared/errors';
import { ByteLru } from '../../../shared/cache/byte-lru';
import { contextUnknown } from '../http/errors';

/**
 * Context tokens by content hash, so clients send a context once and its hash afterwards. Like
 * every cache here it can be dropped at any time: a miss answers 409 context_unknown and the
 * client re-sends the tokens.
 */
export class ContextStore {
  private readonly byHash: ByteLru<readonly number[]>;

  constructor(maxEntries: number) {
    this.byHash = new ByteLru(maxEntries);
  }

  /** The tokens for a request's context fields; `field` is the request path ("context", "user.context"). */
  async resolve(
    tokens: readonly number[] | undefined,
    hash: string | undefined,
    field: string,
  ): Promise<{ tokens: readonly number[]; hash: string }> {
    if (tokens) {
      const actual = await contextHash(tokens);
      if (hash !== undefined && hash !== actual)
        throw new InvalidArgumentError(`${field}Hash`, `${hash} is not the sha256 of the ${tokens.length} context tokens (${actual})`);
      this.byHash.set(actual, tokens, 1);
      return { tokens, hash: actual };
    }
    const known = this.byHash.get(hash!);
    if (!known) throw contextUnknown(`${field}Hash`);
    return { tokens: known, hash: hash! };
  }
}
