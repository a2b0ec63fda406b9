"""Turning questions into replies: options (:mod:`.options`, NumPy only), the search
state (:mod:`.search`) and the decoder with its strategies (:mod:`.decoder`)."""
