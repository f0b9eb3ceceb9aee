"""Kinds of multiply-accumulates: the names a rule splits its work by (cnnstat.convention
decides which a total counts)."""

# --------------------------------------------------------------------------------------------
# Kinds of multiply-accumulates. A rule reports its work split by kind; the counting convention
# (cnnstat.convention) decides which kinds a total includes. "weight" is the multiply-adds of
# convolutions and fully connected layers; "attention" the contractions of two activations
# (matmul, bmm, einsum, scaled-dot-product attention's Q·Kᵀ and A·V). Both count by default.
# --------------------------------------------------------------------------------------------
WEIGHT = "weight"          # conv / linear multiply-adds (always counted)
ATTENTION = "attention"    # activation x activation contractions (counted unless --count weight)
BIAS = "bias"              # one add per output element of a layer with a bias
NORM = "norm"              # batch norm (folded: one multiply-add per element), LRN
ACTIVATION = "activation"  # one operation per element
POOL = "pool"              # one operation per window element per output element
ELEMENTWISE = "elementwise"  # merges: (inputs - 1) operations per output element
RESIZE = "resize"          # upsampling: fvcore's weights (nearest 1, bilinear 4 per output element)
MAC_KINDS = (WEIGHT, ATTENTION, BIAS, NORM, ACTIVATION, POOL, ELEMENTWISE, RESIZE)
