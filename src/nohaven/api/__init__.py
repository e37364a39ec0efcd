"""The versioned JSON API (/api/v1): thin routes that parse, call a service and serialise."""
