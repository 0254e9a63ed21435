"""Benchmarks of the sync engine against the local Google emulator; ``python -m bench`` prints figures."""
