"""Documents: PDF/DOCX/TXT/Markdown/RTF reading, chunks, semantic search, Q&A, diff."""
