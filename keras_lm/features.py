"""The names of the tensors that cross the model boundary, fixed once for the whole project.

Keras `Input`s, tf.data features, export signatures, ONNX graphs and bundle
manifests all use these names, so an exported output can be matched to the
Keras one by name.

Example:
>>> TOKEN_IDS, PADDING_MASK
('token_ids', 'padding_mask')
"""

TOKEN_IDS = "token_ids"
PADDING_MASK = "padding_mask"
ENCODER_TOKEN_IDS = "encoder_token_ids"
ENCODER_PADDING_MASK = "encoder_padding_mask"
DECODER_TOKEN_IDS = "decoder_token_ids"
DECODER_PADDING_MASK = "decoder_padding_mask"

# Inputs by task family.
LM_INPUTS = (TOKEN_IDS, PADDING_MASK)
CLASSIFIER_INPUTS = (TOKEN_IDS, PADDING_MASK)
SEQ2SEQ_INPUTS = (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK, DECODER_TOKEN_IDS, DECODER_PADDING_MASK)
