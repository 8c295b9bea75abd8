"""The modelrt server: servicers, engine, executors, health, reflection and settings."""
