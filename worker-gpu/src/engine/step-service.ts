import { assertCompatible, mixLogits } from '../../../shared/ssd2';
import { compactLogits, densifyLogits, encodeTopK, PROTOCOL_VERSION, type StepRequest, type StepResponse } from '../../../shared/protocol';
import type { NoisyBlockRecipe } from '../../../shared/ssd2/simplex';
import { withField } from '../http/errors';
import type { WorkerMetrics } from '../metrics';
import type { ContextStore } from './context-store';
import type { Models, OpenModel } from './models';
import { checkBlockLength, checkContext, checkEstimate, checkTopK, selfCondLogits } from './validate';

/**
 * POST /v1/step: one denoising step of one block for the core model and, when named, a user
 * model, from nothing but the request. Raw logits go back compact (the client echoes them as
 * self-conditioning next step); with a user model the mixed logits come too.
 */
export class StepService {
  constructor(
    private readonly models: Models,
    private readonly contexts: ContextStore,
    private readonly metrics: WorkerMetrics,
  ) {}

  async step(req: StepRequest): Promise<StepResponse> {
    const t0 = performance.now();
    const core = await this.models.core(req.model).catch((err) => Promise.reject(withField(err, 'model')));
    const info = core.denoiser.info;
    checkBlockLength(req.blockLength, info);
    checkTopK(req.topK, info);
    checkEstimate(req.estimate, info);
    const noise: NoisyBlockRecipe = {
      seed: req.seed,
      block: req.block,
      step: req.step,
      steps: req.steps,
      estimate: req.estimate,
      blockLength: req.blockLength,
    };
    const selfCond = selfCondLogits(req.selfCond, info, req.blockLength, 'selfCond');
    if (req.context) checkContext(req.context, info, 'context');
    const context = await this.contexts.resolve(req.context, req.contextHash, 'context');
    checkContext(context.tokens, info, 'context');

    let user: { model: OpenModel; step: Parameters<OpenModel['batcher']['denoiseTimed']>[0]; hash: string; lambda: number } | undefined;
    if (req.user) {
      const u = req.user;
      const model = await this.models.user(u).catch((err) => Promise.reject(withField(err, 'user.bundle')));
      try {
        assertCompatible(core.denoiser, model.denoiser, 'user model');
      } catch (err) {
        throw withField(err, 'user.bundle');
      }
      if (u.context) checkContext(u.context, model.denoiser.info, 'user.context');
      const ctx = await this.contexts.resolve(u.context, u.contextHash, 'user.context');
      checkContext(ctx.tokens, model.denoiser.info, 'user.context');
      const userSelf = selfCondLogits(u.selfCond, model.denoiser.info, req.blockLength, 'user.selfCond');
      user = { model, step: { context: ctx.tokens, noise, selfCond: userSelf }, hash: ctx.hash, lambda: u.lambda };
    }

    // topK: a model on the step graphs returns the wire form computed next to its logits.
    const [coreOut, userOut] = await Promise.all([
      core.batcher.denoiseTimed({ context: context.tokens, noise, selfCond, topK: req.topK }),
      user ? user.model.batcher.denoiseTimed({ ...user.step, topK: req.topK }) : undefined,
    ]);
    const logits = compactLogits(coreOut.logits, req.topK);
    const reply: StepResponse = {
      v: PROTOCOL_VERSION,
      model: req.model,
      logits,
      contextHash: context.hash,
      timing: { queueMs: coreOut.queueMs, runMs: coreOut.runMs, totalMs: 0, batchSize: coreOut.batchSize },
    };
    if (user && userOut) {
      const userLogits = compactLogits(userOut.logits, req.topK);
      // Mix what the client would see, so a client mixing the two compact blocks itself agrees.
      reply.user = { logits: userLogits, contextHash: user.hash };
      const [coreWire, userWire] = [densifyLogits(logits), densifyLogits(userLogits)];
      reply.mixed =
        core.denoiser.useGraphs && req.topK < info.vocabSize
          ? encodeTopK(await core.denoiser.graphs.mixCompact(coreWire, userWire, user.lambda, req.topK))
          : compactLogits(mixLogits(coreWire, userWire, user.lambda), req.topK);
    }
    this.metrics.steps.inc({ model: `${req.model.name}@${req.model.version}`, mode: 'step' });
    reply.timing.totalMs = performance.now() - t0;
    return reply;
  }
}
