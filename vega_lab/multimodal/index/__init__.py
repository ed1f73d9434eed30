"""The cross-modal index: one persisted collection of image, document and transcript vectors."""
