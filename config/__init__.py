"""forewarn configuration, route manifests, templates and examples."""
