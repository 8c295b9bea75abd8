"""Where model code runs: executors, worker pipe, payloads; no api/engine/local/placement."""
