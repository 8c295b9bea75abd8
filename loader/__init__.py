"""Bundle -> loadable model: safe unpacking, layout detection, config, requirements and import."""
