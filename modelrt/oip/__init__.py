"""Code generated from protos-vendor (the Open Inference Protocol) by scripts/gen_protos.sh; do not edit."""
