//! Benchmarks of Plexus and the side-by-side harness against a go-plugin Go
//! host; the harness (`plexus-compare`) is being written, the criterion
//! benches in `benches/` stand on their own.
