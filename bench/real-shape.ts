/**
 * Exports the randomly initialised real-shape bundles (core and user; bench/lib/bundles.ts) into
 * .cache/bench unless they are there, so a benchmark run's time goes to the benchmark
 * (bench/gpu-check.sh runs it first).
 */
import { realShapeBundle } from './lib/bundles';

for (const role of ['core', 'user'] as const) console.log(await realShapeBundle(role));
