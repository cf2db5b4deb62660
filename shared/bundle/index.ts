export * from './manifest';
export * from './graph-spec';
export * from './source';
export * from './load';
