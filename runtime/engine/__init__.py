"""Transport-free core: models, scheduler, catalog, uploads; no api/local/server, grpc, protobuf."""
