"""Reading a sample's files once, never raising: `image` decodes an image or array (strict
libjpeg-turbo for JPEG, Pillow for the rest), `jpeg` the marker segments of a JPEG, `mask` a
segmentation mask into its class-index map, `palette` the colour table of RGB masks. What goes
wrong becomes a finding."""
