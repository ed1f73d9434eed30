"""Benchmark programs (``vega-lab bench ...``): they time real workloads side by side and
print a table plus a last line of JSON. They are never run as timed tests."""
