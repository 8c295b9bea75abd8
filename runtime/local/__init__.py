"""`modelrt run-local` and its sample inputs; never imports api, engine or server."""
