/** Node client SDK: join SSD-2 generations on the edge with a user model that runs on this machine. */
export {
  streamClientCompletion,
  type ClientCompletion,
  type ClientCompletionOptions,
  type ClientCompletionResult,
  type CompletionChunk,
} from './complete';
export { joinGeneration, headerSocket, browserSocket, type ClientModelSession, type ClientSessionSummary, type JoinOptions } from './join';
export { loadUserModel, privatePrefixTokens, type UserModel } from './user-model';
export { StepAnswerer, type StepMessage, type LogitsMessage } from './step-answerer';
export { clientModelInfo } from './client-info';
export { EdgeError } from './edge-error';
export { uploadUserModel, type UploadProgress, type UploadUserModelOptions } from './upload';
export { sseData } from '../../shared/streams';
