"""Batches of runs: experiment files, designs, executors, the results store, analysis."""
