export { SSD2Error } from './ssd2-error';
export { InvalidArgumentError } from './invalid-argument-error';
export { BundleError } from './bundle-error';
export { IncompatibleModelsError } from './incompatible-models-error';
export * from './zod-issue';
