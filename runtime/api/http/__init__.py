"""The HTTP front door (OIP REST, OpenAI-compatible routes, JSON routes, playground) over the same
engine as the gRPC ones; never imports runtime.server."""
