"""The framework side of bundle templates: one module per framework."""
