"""Using a trained model: export to one file (:mod:`.export`), the HTTP API
(:mod:`.http`) and the terminal chat (:mod:`.chat`)."""
