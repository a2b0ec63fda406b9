"""The encoder-decoder family: the shared base (:mod:`.base`), v1/v2/simple/lm
(:mod:`.seq2seq`), attention (:mod:`.attention`) and the ``--model`` registry
(:mod:`.registry`)."""
