export * from './schemas';
export * from './compact-logits';
export * from './context-hash';
export * from './wire-view';
export * from './errors';
export * from './remote-denoiser';
export * from './worker-auth';
export { encodeFloat32, decodeFloat32, encodeUint, decodeUint } from './base64';
export * from './user-models';
