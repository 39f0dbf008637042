"""The payload codec family: header, value codecs, position codings, top-k selection.

`fl_lightning.federated.codec` is the facade the engines call; these modules hold one concept
each and know nothing of models or masks.
"""
