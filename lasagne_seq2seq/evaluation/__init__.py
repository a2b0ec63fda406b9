"""How good a model is: reply metrics (:mod:`.metrics`) and the evaluation of a
run directory (:mod:`.evaluate`)."""
