"""Bundles at rest (folder, S3 bucket, mirror); imports no other room, grpc or protobuf."""
