"""An index in Milvus (Lite embedded, or a server or cluster by URI): connection, store and search, build."""
