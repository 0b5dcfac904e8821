"""Reading layers: from a blob's bytes (compressed or not) to its entries,
the cache of those entries, file contents on demand, and --verify."""
