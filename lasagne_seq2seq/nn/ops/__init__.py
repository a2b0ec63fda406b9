"""Theano ops in C: shared plumbing (:mod:`.cops`), the fused LSTM sequence
(:mod:`.fused_lstm`) and the output layer's product, softmax and loss
(:mod:`.crossentropy`)."""
