"""Images: loading and validation, EXIF, hashes, quality, CLIP, detection, faces, OCR."""
