"""Code generated from protos/modelrt/v1 by scripts/gen_protos.sh; do not edit."""
