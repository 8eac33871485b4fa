//! Every segment codec (none, zstd, lz4, gzip, snappy) round-trips real records through a real broker and MinIO (issue 16 §5).
