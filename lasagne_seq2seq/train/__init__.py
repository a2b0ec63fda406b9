"""Training: the trainer (:mod:`.trainer`), multi-turn training (:mod:`.multiturn`),
optimisers (:mod:`.optimizers`) and a whole run from a config (:mod:`.run`)."""
