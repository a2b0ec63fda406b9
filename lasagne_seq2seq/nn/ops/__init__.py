"""Theano ops in C: shared plumbing (:mod:`.cops`), the fused LSTM sequence
(:mod:`.fused_lstm`), the output layer's product, softmax and loss
(:mod:`.crossentropy`) and dropout's random streams (:mod:`.streams`)."""
