"""The vitals benchmark harness: `make bench` / `make bench-quick` (see ``bench.__main__``)."""
