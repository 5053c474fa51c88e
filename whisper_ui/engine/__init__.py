"""Model side: catalog, device measurement, pool planning, the pool and the transcriber."""
