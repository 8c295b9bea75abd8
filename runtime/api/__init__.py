"""Front doors (servicer, status, health, reflection, auth, TLS); never imports runtime.server."""
