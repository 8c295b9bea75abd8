"""The Prometheus exporter and its lock-free tallies; no other room, grpc or protobuf."""
