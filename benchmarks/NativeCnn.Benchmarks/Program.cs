// Benchmarks entry point (placeholder).
return 0;
