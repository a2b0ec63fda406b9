"""Lasagne layers the networks are made of: the recurrent layer (:mod:`.recurrent`),
its cells (:mod:`.cells`), small layers (:mod:`.layers`), the attention decoder
(:mod:`.attention`), sampled softmax (:mod:`.sampled_softmax`) and fused C ops
(:mod:`.ops`)."""
