"""`make bench`: throughput and latency of the event store, the bus and the services.

A benchmark, not a test: it prints a table and asserts nothing about speed. Each figure
is the median of several runs; where the Python `eventsourcing` library does the same
work (the peer), its figure stands beside ours with the ratio, measured in the same
invocation on the same PostgreSQL. See README.md, "Benchmarks".
"""
