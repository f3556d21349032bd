// ESM entry of twincache/metrics: a thin wrapper over the CommonJS module (one collector per
// registry whichever way it is loaded).
import metrics from './lib/metrics.js';

export const { TwincacheCollector, collector, register, unregister } = metrics;
export default metrics;
