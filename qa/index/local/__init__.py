"""The local index folder: manifest, FAISS vectors, BM25, records, the atomic build and its own search."""
