"""The probe: a forward pass through a trivial, numerically stable softmax net, the way training
would run it, so that a sample whose loss would not be finite never reaches training.

`net` holds what both probes share (preprocessing, the fixed-seed layer, the stable softmax);
`classify` is the per-image loss, `segment` the per-pixel loss of a segmentation net.
"""
