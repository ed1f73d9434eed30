"""Audio: loading, features and charts, fingerprints, speech-to-text."""
