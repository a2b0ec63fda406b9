"""The Theano stack: its work-arounds (:mod:`.compat`) and GPU placement (:mod:`.devices`)."""
