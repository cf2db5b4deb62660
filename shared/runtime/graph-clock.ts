/**
 * Wall time during which at least one onnxruntime session of this process is running (ms). Runs
 * may overlap (two models' batches, a step graph beside a denoiser); busy time counts the union,
 * so wall time minus busy time is what the host spends between graphs.
 */
class GraphClock {
  busyMs = 0;
  private inFlight = 0;
  private since = 0;

  async time<T>(run: () => Promise<T>): Promise<T> {
    if (this.inFlight++ === 0) this.since = performance.now();
    try {
      return await run();
    } finally {
      if (--this.inFlight === 0) this.busyMs += performance.now() - this.since;
    }
  }
}

/** The process's clock, shared by every session the runtime adapters open. */
export const graphClock = new GraphClock();
