"""From text to batches: corpora (:mod:`.corpora`), tokenizers (:mod:`.text`), the
vocabulary (:mod:`.vocab`), datasets and length-bucketed batches (:mod:`.batches`),
pretrained embeddings (:mod:`.embeddings`) and the toy tasks (:mod:`.toy`)."""
