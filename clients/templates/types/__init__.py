"""The model-type side of bundle templates: one module per model type."""
