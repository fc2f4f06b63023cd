export { type CheckpointMismatch, compareWithCheckpoint } from './compare.js'
export { CheckpointFile, defaultCheckpointFile, type StoredCheckpoint } from './file.js'
export {
  type CheckpointKey,
  isCheckpointKeyRow,
  loadOrCreateCheckpointKey,
  signingKeyRows,
  storedCheckpointPublicKey,
} from './key.js'
export {
  CHECKPOINT_TYP,
  type CheckpointHead,
  type CheckpointPayload,
  openCheckpoint,
  type SignedCheckpoint,
  signCheckpoint,
} from './token.js'
export { CheckpointWriter, type CheckpointWriterOptions } from './writer.js'
